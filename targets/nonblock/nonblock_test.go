package nonblock

import (
	"bytes"
	"errors"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/targets/httpcore"
)

func TestTimersOrder(t *testing.T) {
	var tm Timers
	base := time.Unix(1700000000, 0)
	conns := make([]*Conn, 6)
	for i := range conns {
		conns[i] = &Conn{slot: -1}
	}
	offsets := []int{5, 1, 4, 2, 6, 3}
	for i, c := range conns {
		tm.Set(c, base.Add(time.Duration(offsets[i])*time.Second))
	}
	// Moving one earlier, one later, and removing one must keep the order.
	tm.Set(conns[4], base)                     // 6 -> 0
	tm.Set(conns[1], base.Add(10*time.Second)) // 1 -> 10
	tm.Remove(conns[2])                        // 4 gone
	tm.Remove(conns[2])                        // twice is harmless
	if conns[2].slot != -1 {
		t.Fatalf("removed conn still has slot %d", conns[2].slot)
	}
	var got []time.Duration
	for tm.Len() > 0 {
		_, at, _ := tm.Peek()
		c := tm.Pop()
		if !c.at.Equal(at) || c.slot != -1 {
			t.Fatalf("popped conn: at %v, Peek said %v, slot %d", c.at, at, c.slot)
		}
		got = append(got, at.Sub(base)/time.Second)
	}
	want := []time.Duration{0, 2, 3, 5, 10}
	if len(got) != len(want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("popped %v, want %v", got, want)
		}
	}
	if tm.Pop() != nil {
		t.Fatal("Pop on an empty heap returned a conn")
	}
	if _, _, ok := tm.Peek(); ok {
		t.Fatal("Peek on an empty heap said ok")
	}
}

type fakeStats struct {
	accepted, closed, acceptErrs, acceptOKs int
	backoff                                 time.Duration
}

func (s *fakeStats) Accepted()                       { s.accepted++ }
func (s *fakeStats) Closed()                         { s.closed++ }
func (s *fakeStats) AcceptError(error) time.Duration { s.acceptErrs++; return s.backoff }
func (s *fakeStats) AcceptOK()                       { s.acceptOKs++ }

var t0 = time.Unix(1700000000, 0)

// harness is a Loop driven by hand: each connection is one end of a
// socketpair, the test holds the other end, and time is whatever the test
// passes, so deadlines are tested without waiting for them.
type harness struct {
	t     *testing.T
	loop  *Loop
	stats *fakeStats
	peers map[*Conn]int
}

func newHarness(t *testing.T, lim Limits) *harness {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"index.html":    "<h1>hi</h1>\n",
		"notfound.html": "nope\n",
		"big.bin":       strings.Repeat("x", 4<<20),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	site, err := httpcore.LoadSite(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := &fakeStats{}
	h := &harness{t: t, stats: st, peers: map[*Conn]int{}}
	h.loop = &Loop{opt: Options{Site: site, Stats: st, Limits: lim, ShutdownTimeout: 5 * time.Second, Listener: -1}}
	t.Cleanup(func() {
		h.loop.CloseAll()
		for _, fd := range h.peers {
			unix.Close(fd)
		}
	})
	return h
}

// conn adds a served connection and returns it.
func (h *harness) conn(now time.Time) *Conn {
	h.t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	h.loop.add(fds[0], now)
	c := h.loop.Conn(fds[0])
	h.peers[c] = fds[1]
	return c
}

func (h *harness) send(c *Conn, s string) {
	h.t.Helper()
	if n, err := unix.Write(h.peers[c], []byte(s)); err != nil || n != len(s) {
		h.t.Fatalf("peer write: %d, %v", n, err)
	}
}

// recv is everything the peer can read now, and whether it saw EOF.
func (h *harness) recv(c *Conn) (string, bool) {
	h.t.Helper()
	var b bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(h.peers[c], buf)
		switch {
		case err == unix.EAGAIN:
			return b.String(), false
		case err != nil:
			h.t.Fatalf("peer read: %v", err)
		case n == 0:
			return b.String(), true
		}
		b.Write(buf[:n])
	}
}

func (h *harness) open(c *Conn) bool { return h.loop.Conn(c.fd) == c && c.want != WantClose }

func (h *harness) expectWant(c *Conn, w Want) {
	h.t.Helper()
	if c.want != w {
		h.t.Fatalf("want %v, got %v", w, c.want)
	}
}

var lim = Limits{Idle: 30 * time.Second, Read: 10 * time.Second, Write: 20 * time.Second, Linger: 2 * time.Second}

func TestKeepAliveAndIdleTimeout(t *testing.T) {
	h := newHarness(t, lim)
	c := h.conn(t0)
	h.expectWant(c, WantRead)
	for i := range 3 {
		now := t0.Add(time.Duration(i) * time.Second)
		h.send(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		h.loop.Handle(c, now, Readable)
		out, eof := h.recv(c)
		if !strings.HasPrefix(out, "HTTP/1.1 200 ") || !strings.HasSuffix(out, "<h1>hi</h1>\n") || eof {
			t.Fatalf("response %d: %q (eof %v)", i, out, eof)
		}
		h.expectWant(c, WantRead)
		if want := now.Add(lim.Idle); !c.due.Equal(want) {
			t.Fatalf("idle deadline %v, want %v", c.due, want)
		}
	}
	// Being asked again with nothing to read (as busy polling does every
	// pass) does not postpone the idle deadline.
	h.loop.Handle(c, t0.Add(10*time.Second), Readable)
	if want := t0.Add(2*time.Second + lim.Idle); !c.due.Equal(want) {
		t.Fatalf("idle deadline moved to %v by an empty turn, want %v", c.due, want)
	}
	// The heap still holds the first, earlier deadline; Expire then must
	// refile it rather than close the connection.
	h.loop.Expire(t0.Add(lim.Idle))
	if !h.open(c) {
		t.Fatal("closed at an idle deadline that had moved later")
	}
	h.loop.Expire(t0.Add(2*time.Second + lim.Idle))
	if h.open(c) {
		t.Fatal("still open after the idle timeout")
	}
	if _, eof := h.recv(c); !eof {
		t.Fatal("peer did not see the close")
	}
	if h.stats.closed != 1 {
		t.Fatalf("closed counted %d times", h.stats.closed)
	}
}

func TestReadTimeoutNotExtendedByTrickle(t *testing.T) {
	h := newHarness(t, lim)
	c := h.conn(t0)
	h.send(c, "GET / HT")
	h.loop.Handle(c, t0, Readable)
	h.expectWant(c, WantRead)
	if want := t0.Add(lim.Read); !c.due.Equal(want) {
		t.Fatalf("read deadline %v, want %v", c.due, want)
	}
	h.send(c, "TP/1.1\r\n")
	h.loop.Handle(c, t0.Add(5*time.Second), Readable)
	if want := t0.Add(lim.Read); !c.due.Equal(want) {
		t.Fatalf("read deadline moved to %v by a trickle, want %v", c.due, want)
	}
	h.loop.Expire(t0.Add(lim.Read))
	if h.open(c) {
		t.Fatal("still open after the read timeout")
	}
}

func TestDelayWaitsOnTimer(t *testing.T) {
	h := newHarness(t, lim)
	c := h.conn(t0)
	// A delayed request followed, pipelined, by an immediate one: the
	// second must not be answered before the first.
	h.send(c, "GET /delay?ms=500 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	h.loop.Handle(c, t0, Readable)
	h.expectWant(c, WantTimer)
	if out, _ := h.recv(c); out != "" {
		t.Fatalf("answered before the delay: %q", out)
	}
	h.loop.Expire(t0.Add(499 * time.Millisecond))
	h.expectWant(c, WantTimer)
	h.loop.Expire(t0.Add(500 * time.Millisecond))
	out, _ := h.recv(c)
	if i := strings.Index(out, "delayed 500 ms\n"); i < 0 || !strings.Contains(out[i:], "<h1>hi</h1>") {
		t.Fatalf("after the delay: %q", out)
	}
	h.expectWant(c, WantRead)
}

func TestBackPressure(t *testing.T) {
	h := newHarness(t, lim)
	c := h.conn(t0)
	h.send(c, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
	h.loop.Handle(c, t0, Readable)
	h.expectWant(c, WantWrite)
	if want := t0.Add(lim.Write); !c.due.Equal(want) {
		t.Fatalf("write deadline %v, want %v", c.due, want)
	}
	total := 0
	for i := 0; c.want == WantWrite; i++ {
		if i > 10000 {
			t.Fatal("response never finished")
		}
		out, _ := h.recv(c)
		total += len(out)
		h.loop.Handle(c, t0.Add(time.Second), Writable)
	}
	out, _ := h.recv(c)
	total += len(out)
	if total < 4<<20 {
		t.Fatalf("received %d bytes, want the 4 MiB body and a head", total)
	}
	h.expectWant(c, WantRead)
}

func TestWriteTimeout(t *testing.T) {
	h := newHarness(t, lim)
	c := h.conn(t0)
	h.send(c, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
	h.loop.Handle(c, t0, Readable)
	h.expectWant(c, WantWrite)
	// Writable with no room made (the peer reads nothing): no progress, so
	// the deadline stays.
	h.loop.Handle(c, t0.Add(time.Second), Writable)
	h.loop.Expire(t0.Add(lim.Write))
	if h.open(c) {
		t.Fatal("still open after the write timeout")
	}
}

func TestConnectionCloseLingers(t *testing.T) {
	h := newHarness(t, lim)
	c := h.conn(t0)
	h.send(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nmore bytes the server will not read")
	h.loop.Handle(c, t0, Readable)
	out, eof := h.recv(c)
	if !strings.Contains(out, "Connection: close") || !eof {
		t.Fatalf("got %q, eof %v", out, eof)
	}
	// Still reading (and discarding) until the peer closes.
	h.expectWant(c, WantRead)
	h.send(c, "even more")
	h.loop.Handle(c, t0, Readable)
	h.expectWant(c, WantRead)
	unix.Shutdown(h.peers[c], unix.SHUT_WR)
	h.loop.Handle(c, t0, Readable)
	if h.open(c) {
		t.Fatal("still open after the peer closed")
	}
}

func TestLingerTimeout(t *testing.T) {
	h := newHarness(t, lim)
	c := h.conn(t0)
	h.send(c, "BAD\r\n\r\n")
	h.loop.Handle(c, t0, Readable)
	if out, _ := h.recv(c); !strings.HasPrefix(out, "HTTP/1.1 400 ") {
		t.Fatalf("got %q", out)
	}
	h.expectWant(c, WantRead)
	h.loop.Expire(t0.Add(lim.Linger))
	if h.open(c) {
		t.Fatal("still lingering after the linger timeout")
	}
}

func TestPeerEOFClosesAtOnce(t *testing.T) {
	h := newHarness(t, lim)
	c := h.conn(t0)
	h.send(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	unix.Shutdown(h.peers[c], unix.SHUT_WR)
	h.loop.Handle(c, t0, Readable)
	if out, _ := h.recv(c); !strings.HasPrefix(out, "HTTP/1.1 200 ") {
		t.Fatalf("the buffered request was not answered: %q", out)
	}
	// The short read left the EOF for the next turn, where the socket is
	// still readable (level-triggered); no lingering for a peer that is
	// gone already.
	h.loop.Handle(c, t0, Readable)
	if h.open(c) {
		t.Fatal("open after the peer's EOF")
	}
}

func TestHangupCloses(t *testing.T) {
	h := newHarness(t, lim)
	c := h.conn(t0)
	h.loop.Handle(c, t0, Readable|Hangup)
	if h.open(c) {
		t.Fatal("open after a hangup")
	}
	// A second event for it in the same turn is ignored.
	h.loop.Handle(c, t0, Readable)
	if h.stats.closed != 1 {
		t.Fatalf("closed counted %d times", h.stats.closed)
	}
}

func TestShutdownDrains(t *testing.T) {
	h := newHarness(t, lim)
	idle := h.conn(t0)
	busy := h.conn(t0)
	h.send(busy, "GET /delay?ms=100 HTTP/1.1\r\nHost: x\r\n\r\n")
	h.loop.Handle(busy, t0, Readable)
	h.expectWant(busy, WantTimer)

	h.loop.Shutdown(t0)
	if h.loop.Listening(t0) {
		t.Fatal("still listening while draining")
	}
	if h.open(idle) {
		t.Fatal("idle connection kept open by shutdown")
	}
	if !h.open(busy) || h.loop.Finished(t0) {
		t.Fatal("in-flight connection closed by shutdown")
	}
	h.loop.Expire(t0.Add(100 * time.Millisecond))
	if out, _ := h.recv(busy); !strings.Contains(out, "delayed 100 ms") {
		t.Fatalf("in-flight response: %q", out)
	}
	if h.open(busy) {
		t.Fatal("connection kept open after its last response while draining")
	}
	if !h.loop.Finished(t0.Add(100 * time.Millisecond)) {
		t.Fatal("not finished with no connections left")
	}
}

func TestShutdownGraceEnds(t *testing.T) {
	h := newHarness(t, lim)
	c := h.conn(t0)
	h.send(c, "GET /delay?ms=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
	h.loop.Handle(c, t0, Readable)
	h.loop.Shutdown(t0)
	if d := h.loop.Timeout(t0); d != h.loop.opt.ShutdownTimeout {
		t.Fatalf("timeout %v, want the grace %v", d, h.loop.opt.ShutdownTimeout)
	}
	if h.loop.Finished(t0.Add(time.Second)) {
		t.Fatal("finished within the grace")
	}
	if !h.loop.Finished(t0.Add(h.loop.opt.ShutdownTimeout)) || h.open(c) {
		t.Fatal("not finished, or connection open, after the grace")
	}
}

func TestTimeoutIsNextDeadline(t *testing.T) {
	h := newHarness(t, lim)
	if d := h.loop.Timeout(t0); d >= 0 {
		t.Fatalf("timeout %v with nothing to wait for", d)
	}
	h.conn(t0)
	if d := h.loop.TimeoutMillis(t0.Add(time.Second - time.Microsecond)); d != int((lim.Idle-time.Second)/time.Millisecond)+1 {
		t.Fatalf("timeout %d ms, want the idle deadline rounded up", d)
	}
}

func TestAcceptBacksOff(t *testing.T) {
	h := newHarness(t, lim)
	h.stats.backoff = 50 * time.Millisecond
	// A socket that is not listening: accept fails with EINVAL.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	h.loop.opt.Listener = fd
	h.loop.Accept(t0)
	if h.stats.acceptErrs != 1 {
		t.Fatalf("%d accept errors counted, want 1", h.stats.acceptErrs)
	}
	if h.loop.Listening(t0.Add(49 * time.Millisecond)) {
		t.Fatal("listening during the back-off")
	}
	if d := h.loop.Timeout(t0); d != 50*time.Millisecond {
		t.Fatalf("timeout %v, want the back-off", d)
	}
	if !h.loop.Listening(t0.Add(50 * time.Millisecond)) {
		t.Fatal("not listening after the back-off")
	}
}

func TestAcceptAndFDLimit(t *testing.T) {
	h := newHarness(t, lim)
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 16); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	opt := h.loop.opt
	opt.Listener = lfd
	var logged bytes.Buffer
	opt.Log = newLogger(&logged)
	l, err := NewLoop(opt)
	if err != nil {
		t.Fatal(err)
	}
	h.loop = l
	dial := func() int {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Connect(fd, sa); err != nil {
			t.Fatal(err)
		}
		return fd
	}
	dial()
	dial()
	l.Accept(t0)
	if len(l.Conns()) != 2 || h.stats.accepted != 2 || h.stats.acceptOKs != 1 {
		t.Fatalf("%d conns, %d accepted, %d AcceptOK; want 2, 2, 1", len(l.Conns()), h.stats.accepted, h.stats.acceptOKs)
	}
	// Every new descriptor is now over the limit: refused and logged once.
	l.opt.FDLimit = 1
	l.opt.FDLimitWhy = "test limit"
	a, b := dial(), dial()
	l.Accept(t0)
	if len(l.Conns()) != 2 || h.stats.closed != 2 {
		t.Fatalf("%d conns, %d closed; want 2, 2", len(l.Conns()), h.stats.closed)
	}
	for _, fd := range []int{a, b} {
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
		if n, err := unix.Read(fd, make([]byte, 1)); n != 0 || err != nil && !errors.Is(err, unix.ECONNRESET) {
			t.Fatalf("refused connection read: %d, %v", n, err)
		}
	}
	if n := strings.Count(logged.String(), "test limit"); n != 1 {
		t.Fatalf("logged %d times: %q", n, logged.String())
	}
}

func newLogger(w *bytes.Buffer) *log.Logger { return log.New(w, "", 0) }
