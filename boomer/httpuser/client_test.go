package httpuser

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"serverlab/internal/testbin"
)

// record is one outcome a Client reported.
type record struct {
	method, name string
	ok           bool
	length       int64
	err          string
}

type recorder struct{ got []record }

func (r *recorder) RecordSuccess(method, name string, _ time.Duration, n int64) {
	r.got = append(r.got, record{method: method, name: name, ok: true, length: n})
}

func (r *recorder) RecordFailure(method, name string, _ time.Duration, err string) {
	r.got = append(r.got, record{method: method, name: name, err: err})
}

func (r *recorder) last(t *testing.T) record {
	t.Helper()
	if len(r.got) == 0 {
		t.Fatal("nothing recorded")
	}
	return r.got[len(r.got)-1]
}

// scripted is a raw TCP server whose answer depends on the request path, so
// that each failure a real server can cause is produced on purpose.
type scripted struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	release  chan struct{} // ends /hang
	idleShut chan struct{} // /idle-close has closed its connection
}

func newScripted(t *testing.T) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{ln: ln, release: make(chan struct{}), idleShut: make(chan struct{}, 1)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c.(*net.TCPConn))
			}()
		}
	}()
	t.Cleanup(func() {
		close(s.release)
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *scripted) url() string { return "http://" + s.ln.Addr().String() }

func (s *scripted) serve(c *net.TCPConn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		for {
			h, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if h == "\r\n" {
				break
			}
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			return
		}
		closing := strings.Contains(line, "close")
		switch path := fields[1]; {
		case path == "/reset":
			c.SetLinger(0)
			return
		case path == "/silent-close":
			return
		case path == "/hang":
			<-s.release
			return
		case path == "/truncated":
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
			return
		case path == "/garbage":
			c.Write([]byte("garbage\r\n\r\n"))
			return
		case path == "/half-line":
			c.Write([]byte("HTTP/1.1 2"))
			return
		case path == "/trickle":
			// 20 bytes, one every 50 ms: a second in all, never silent
			// for long.
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"))
			for range 20 {
				time.Sleep(50 * time.Millisecond)
				c.Write([]byte("x"))
			}
		case path == "/huge-length":
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387904\r\n\r\nxyz"))
			return
		case path == "/endless-chunked":
			c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
			chunk := []byte(fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("z", 64<<10)))
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		case path == "/endless-until-close":
			c.Write([]byte("HTTP/1.1 200 OK\r\n\r\n"))
			block := []byte(strings.Repeat("u", 64<<10))
			for {
				if _, err := c.Write(block); err != nil {
					return
				}
			}
		case strings.HasPrefix(path, "/chunked-mib/"):
			// N MiB in 64 KiB chunks, then a trailer field.
			var mib int
			fmt.Sscan(strings.TrimPrefix(path, "/chunked-mib/"), &mib)
			c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
			chunk := []byte(fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("z", 64<<10)))
			for range mib * 16 {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
			c.Write([]byte("0\r\nX-Trailer: 1\r\n\r\n"))
		case path == "/until-close":
			c.Write([]byte("HTTP/1.0 200 OK\r\n\r\nuntil close"))
			return
		case strings.HasPrefix(path, "/bad-head/"):
			// A valid status line, then a header fasthttp refuses, with
			// bytes that differ on every request.
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: " + strings.TrimPrefix(path, "/bad-head/") + "\r\n\r\n"))
			return
		case strings.HasPrefix(path, "/bad-chunk/"):
			c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.TrimPrefix(path, "/bad-chunk/") + "\r\n"))
			return
		case path == "/missing":
			c.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"))
		case path == "/boom":
			c.Write([]byte("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"))
		case path == "/bye":
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye"))
			return
		case path == "/idle-close":
			// Answers, then closes the kept-alive connection, as a
			// server's idle timeout does.
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
			c.Close()
			s.idleShut <- struct{}{}
			return
		default:
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
		}
		if closing {
			return
		}
	}
}

func newClient(t *testing.T, base string, opts Options) *Client {
	t.Helper()
	c, err := New(context.Background(), base, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestKeepAliveUsesOneConnection(t *testing.T) {
	s := newScripted(t)
	c := newClient(t, s.url(), Options{})
	var r recorder
	for range 5 {
		if err := c.GET(&r, "/", ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.accepted.Load(); n != 1 {
		t.Errorf("5 keep-alive requests opened %d connections, want 1", n)
	}
	want := record{method: "GET", name: "/", ok: true, length: 5}
	for _, got := range r.got {
		if got != want {
			t.Errorf("recorded %+v, want %+v", got, want)
		}
	}
}

// A pause between requests longer than the response timeout is no
// silence of the server: the kept-alive connection is used again.
func TestKeepAliveOutlivesTheResponseTimeout(t *testing.T) {
	s := newScripted(t)
	c := newClient(t, s.url(), Options{ResponseTimeout: 50 * time.Millisecond})
	var r recorder
	for range 2 {
		if err := c.GET(&r, "/", ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := s.accepted.Load(); n != 1 {
		t.Errorf("2 requests, 200 ms apart, with a 50 ms response timeout opened %d connections, want 1", n)
	}
}

func TestCloseOptionOpensAConnectionPerRequest(t *testing.T) {
	s := newScripted(t)
	c := newClient(t, s.url(), Options{Close: true})
	var r recorder
	for range 3 {
		if err := c.GET(&r, "/", ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.accepted.Load(); n != 3 {
		t.Errorf("3 requests with Close opened %d connections, want 3", n)
	}
}

func TestServerClosesAreFollowed(t *testing.T) {
	s := newScripted(t)
	c := newClient(t, s.url(), Options{})
	var r recorder
	// Connection: close from the server, then an idle close: both must
	// lead to a fresh connection, not to a failure.
	for _, p := range []string{"/bye", "/idle-close"} {
		if err := c.GET(&r, p, ""); err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
	}
	<-s.idleShut
	if err := c.GET(&r, "/", ""); err != nil {
		t.Fatalf("GET after the server closed the idle connection: %v", err)
	}
	if n := s.accepted.Load(); n != 3 {
		t.Errorf("opened %d connections, want 3", n)
	}
}

func TestFailuresAreNamedAsHttpUserNamesThem(t *testing.T) {
	s := newScripted(t)
	tests := []struct {
		path, name string
		opts       Options
		wantName   string
		want       string
	}{
		{"/missing", "", Options{}, "/missing", "HTTPError('404 Client Error: Not Found for url: /missing')"},
		{"/missing", "named", Options{}, "named", "HTTPError('404 Client Error: Not Found for url: named')"},
		{"/boom", "", Options{}, "/boom", "HTTPError('500 Server Error: Internal Server Error for url: /boom')"},
		{"/reset", "", Options{}, "/reset", "ConnectionResetError(104, 'Connection reset by peer')"},
		{"/silent-close", "", Options{}, "/silent-close", "RemoteDisconnected('Remote end closed connection without response')"},
		{"/truncated", "", Options{}, "/truncated",
			"ChunkedEncodingError(ProtocolError('Connection broken: IncompleteRead(3 bytes read, 7 more expected)', IncompleteRead(3 bytes read, 7 more expected)))"},
		{"/garbage", "", Options{}, "/garbage", `BadStatusLine('garbage\r\n')`},
		{"/half-line", "", Options{}, "/half-line", `BadStatusLine('HTTP/1.1 2')`},
		{"/huge-length", "", Options{}, "/huge-length", "ResponseTooLarge('Response body over 16777216 bytes (max body)')"},
		{"/endless-chunked", "", Options{MaxBody: 1 << 20}, "/endless-chunked", "ResponseTooLarge('Response body over 1048576 bytes (max body)')"},
		{"/endless-until-close", "", Options{MaxBody: 1 << 20}, "/endless-until-close", "ResponseTooLarge('Response body over 1048576 bytes (max body)')"},
		{"/chunked-mib/2", "", Options{MaxBody: 1 << 20}, "/chunked-mib/2", "ResponseTooLarge('Response body over 1048576 bytes (max body)')"},
		{"/bad-head/x1q", "", Options{}, "/bad-head/x1q", "ProtocolError('Malformed response')"},
		{"/bad-head/9z7", "", Options{}, "/bad-head/9z7", "ProtocolError('Malformed response')"},
		{"/bad-chunk/zz", "", Options{}, "/bad-chunk/zz", "ProtocolError('Malformed response')"},
		{"/bad-chunk/q9", "", Options{}, "/bad-chunk/q9", "ProtocolError('Malformed response')"},
		{"/hang", "", Options{ResponseTimeout: 200 * time.Millisecond}, "/hang",
			`ReadTimeout(ReadTimeoutError("HTTPConnectionPool(host='127.0.0.1', port=` + port(s.url()) + `): Read timed out. (read timeout=0.2)"))`},
	}
	for _, tt := range tests {
		c := newClient(t, s.url(), tt.opts)
		var r recorder
		if err := c.GET(&r, tt.path, tt.name); err == nil {
			t.Errorf("GET %s: no error", tt.path)
			continue
		}
		got := r.last(t)
		if got.ok || got.name != tt.wantName || got.err != tt.want {
			t.Errorf("GET %s recorded %+v, want failure %q named %q", tt.path, got, tt.want, tt.wantName)
		}
	}
}

// Bodies are counted, not kept: a chunked body, one that runs until the
// server closes, and a body at the limit all succeed with their length.
func TestBodiesAreCounted(t *testing.T) {
	s := newScripted(t)
	for _, tt := range []struct {
		path string
		want int64
	}{
		{"/chunked-mib/1", 1 << 20},
		{"/until-close", int64(len("until close"))},
		{"/", 5},
	} {
		c := newClient(t, s.url(), Options{MaxBody: 1 << 20})
		var r recorder
		if err := c.GET(&r, tt.path, ""); err != nil {
			t.Errorf("GET %s: %v", tt.path, err)
			continue
		}
		if got := r.last(t); !got.ok || got.length != tt.want {
			t.Errorf("GET %s recorded %+v, want success of %d bytes", tt.path, got, tt.want)
		}
		// The connection stays usable after a chunked body and its trailer.
		if err := c.GET(&r, "/", ""); err != nil {
			t.Errorf("GET / after %s: %v", tt.path, err)
		}
	}
}

// A body of hundreds of MiB under a limit above it passes through a few
// KiB of buffer: the heap stays small while it streams.
func TestLargeBodyKeepsHeapBounded(t *testing.T) {
	s := newScripted(t)
	const mib = 512
	c := newClient(t, s.url(), Options{MaxBody: 1 << 30})
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var r recorder
	err := c.GET(&r, fmt.Sprintf("/chunked-mib/%d", mib), "")
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := r.last(t); got.length != mib<<20 {
		t.Errorf("recorded %+v, want %d bytes", got, mib<<20)
	}
	if p := peak.Load(); p > 64<<20 {
		t.Errorf("heap reached %d MiB while a %d MiB body streamed", p>>20, mib)
	}
}

// The response timeout is a bound on each silence, as requests' read
// timeout is: a response that keeps coming is not cut, however long it
// takes in all.
func TestResponseTimeoutIsPerWait(t *testing.T) {
	s := newScripted(t)
	c := newClient(t, s.url(), Options{ResponseTimeout: 600 * time.Millisecond})
	var r recorder
	if err := c.GET(&r, "/trickle", ""); err != nil {
		t.Fatalf("a response trickling for a second, never silent for 600 ms: %v", err)
	}
	if got := r.last(t); !got.ok || got.length != 20 {
		t.Errorf("recorded %+v", got)
	}
}

// A listener that never accepts, with its backlog full: the kernel drops
// the SYN and the connect timeout is what ends the request.
func TestConnectTimeout(t *testing.T) {
	addr := testbin.FullBacklog(t)
	c := newClient(t, "http://"+addr, Options{ConnectTimeout: 300 * time.Millisecond})
	var r recorder
	c.GET(&r, "/", "")
	want := "ConnectTimeoutError(<HTTPConnection(host='127.0.0.1', port=" + port(addr) + ") at 0x....>, 'Connection to 127.0.0.1 timed out. (connect timeout=0.3)')"
	if got := r.last(t).err; got != want {
		t.Errorf("recorded %q, want %q", got, want)
	}
}

func TestConnectionRefused(t *testing.T) {
	c := newClient(t, "http://"+testbin.RefusedAddr(t), Options{})
	var r recorder
	c.GET(&r, "/", "")
	if got, want := r.last(t).err, "ConnectionRefusedError(111, 'Connection refused')"; got != want {
		t.Errorf("recorded %q, want %q", got, want)
	}
}

// A user stopped while its connect waits in a full backlog ends at once,
// not when the connect timeout runs out.
func TestCancelEndsADial(t *testing.T) {
	addr := testbin.FullBacklog(t)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := New(ctx, "http://"+addr, Options{ConnectTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	done := make(chan error)
	go func() { done <- c.GET(&r, "/", "") }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("GET after cancel: %v, want ErrClosed", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a cancelled user still waits in its connect")
	}
	if len(r.got) != 0 {
		t.Errorf("recorded %+v for a dial cut short by the user stopping", r.got)
	}
}

func TestCancelEndsARequestWithoutRecordingIt(t *testing.T) {
	s := newScripted(t)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := New(ctx, s.url(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	done := make(chan error)
	go func() { done <- c.GET(&r, "/hang", "") }()
	for s.accepted.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("GET after cancel: %v, want ErrClosed", err)
	}
	if len(r.got) != 0 {
		t.Errorf("recorded %+v for a request cut short by the user stopping", r.got)
	}
	if err := c.GET(&r, "/", ""); !errors.Is(err, ErrClosed) {
		t.Errorf("GET on a closed client: %v, want ErrClosed", err)
	}
}

func TestBasePathPrefixesRequests(t *testing.T) {
	s := newScripted(t)
	c := newClient(t, s.url()+"/miss", Options{})
	var r recorder
	c.GET(&r, "ing", "")
	if got := r.last(t); got.ok || !strings.Contains(got.err, "404") {
		t.Errorf("GET base /miss + ing recorded %+v, want the 404 of /missing", got)
	}
}

func TestNewRejectsBadHosts(t *testing.T) {
	for _, base := range []string{"", "127.0.0.1:8080", "ftp://x", "http://", "http://[::1"} {
		if _, err := New(context.Background(), base, Options{}); err == nil {
			t.Errorf("New(%q): no error", base)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("New(%q): error is not one line: %q", base, err)
		}
	}
}

func port(base string) string {
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	return p
}

// A connection refused at once does not let a user spin: each failed
// attempt takes at least minFailedDial, and each is still recorded.
func TestFailedDialsDoNotSpin(t *testing.T) {
	c := newClient(t, "http://"+testbin.RefusedAddr(t), Options{})
	var r recorder
	began := time.Now()
	for range 20 {
		c.GET(&r, "/", "")
	}
	if took := time.Since(began); took < 20*minFailedDial {
		t.Errorf("20 refused connections took %v, want at least %v", took, 20*minFailedDial)
	}
	if len(r.got) != 20 {
		t.Errorf("recorded %d failures, want 20", len(r.got))
	}
}
