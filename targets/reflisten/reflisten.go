// Package reflisten is the listener both reference servers (net/http and
// fasthttp) serve on. It adapts the runtime's listening socket to a
// net.Listener, counts connections and accept errors the way the
// hand-written models do, and records each connection's raw request heads,
// which neither library keeps but /echo and the 8 KiB head limit need.
package reflisten

import (
	"bytes"
	"errors"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"serverlab/targets/httpcore"
	"serverlab/targets/server"
)

// maxRecord bounds what a connection keeps of its input: a whole head and
// body, plus what a client may have pipelined after them. Past it the
// connection stops recording (Head returns nil) instead of growing.
const maxRecord = httpcore.MaxHeadBytes + httpcore.MaxBodyBytes + 64<<10

// Listener accepts on the runtime's socket.
type Listener struct {
	net.Listener
	env       *server.Env
	closed    chan struct{}
	closeOnce sync.Once
}

// New makes a Listener of env.Listener. It works on a duplicate: the
// runtime keeps env.Listener open and shuts it down when shutdown begins,
// and closing it here would let that shutdown hit whatever socket later
// reuses the number.
func New(env *server.Env) (*Listener, error) {
	dup, err := unix.FcntlInt(uintptr(env.Listener), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("dup listener", err)
	}
	f := os.NewFile(uintptr(dup), "listener")
	ln, err := net.FileListener(f) // dups again
	f.Close()
	if err != nil {
		return nil, err
	}
	return &Listener{Listener: ln, env: env, closed: make(chan struct{})}, nil
}

// Accept returns the next connection. Failures other than closing (EMFILE
// above all) are counted and handled here (a back-off, or --on-emfile
// shed), as every model does, instead of being handed to the library,
// which would log and sleep by its own rules.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			l.env.Stats.AcceptOK()
			l.env.Stats.Accepted()
			return &Conn{Conn: c, stats: l.env.Stats}, nil
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		select {
		case <-l.env.Done:
			// The runtime shut the socket down to stop accepting. Keep the
			// library's Serve running until its own Shutdown closes the
			// listener, so that it drains its connections the library's way.
			<-l.closed
			return nil, net.ErrClosed
		default:
		}
		// The library's listener shares its socket with env.Listener.
		if !l.env.Stats.AcceptFailed(l.env.Listener, err, l.closed) {
			return nil, net.ErrClosed
		}
	}
}

// Close stops Accept.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// Conn is an accepted connection that records its input.
type Conn struct {
	net.Conn
	stats     *server.Stats
	closeOnce sync.Once

	mu   sync.Mutex
	buf  []byte // input not yet claimed by Head
	skip int64  // body bytes still to arrive and be dropped
	lost bool   // the record no longer lines up with the requests
}

// Read records what it reads.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.record(p[:n])
	}
	return n, err
}

func (c *Conn) record(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost {
		return
	}
	if c.skip > 0 {
		k := min(c.skip, int64(len(b)))
		b, c.skip = b[k:], c.skip-k
	}
	if len(c.buf)+len(b) > maxRecord {
		c.lose()
		return
	}
	c.buf = append(c.buf, b...)
}

func (c *Conn) lose() {
	c.lost, c.buf, c.skip = true, nil, 0
}

// Head claims the next request head from the record: the bytes from its
// request line through its blank line, as httpcore sees them. bodyLen is the
// request's Content-Length; those bytes are dropped, not taken for the next
// head. The libraries read a connection's requests in order and call the
// handler for each before parsing the next, so heads come out in the order
// the handler asks for them. It returns nil if the record was lost (a
// request without a length, such as a chunked one, or too much input).
func (c *Conn) Head(bodyLen int64) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost {
		return nil
	}
	// Empty lines before a request line are allowed (RFC 9112 2.2).
	i := 0
	for i < len(c.buf) && (c.buf[i] == '\r' || c.buf[i] == '\n') {
		i++
	}
	end := httpcore.HeadEnd(c.buf[i:])
	if end < 0 || bodyLen < 0 {
		c.lose()
		return nil
	}
	head := bytes.Clone(c.buf[i : i+end])
	rest := c.buf[i+end:]
	k := min(bodyLen, int64(len(rest)))
	c.skip = bodyLen - k
	c.buf = append(c.buf[:0], rest[k:]...)
	return head
}

// Lose tells the record that the connection's input no longer lines up
// with its requests (a body of unknown length); Head returns nil from now.
func (c *Conn) Lose() {
	c.mu.Lock()
	c.lose()
	c.mu.Unlock()
}

// Close closes the connection and counts it, once.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(c.stats.Closed)
	return err
}
