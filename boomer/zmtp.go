package boomer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/transport"
)

// maxFrameSize is the largest ZMTP frame the worker takes from a master,
// as ZeroMQ's ZMQ_MAXMSGSIZE bounds a socket's messages. zmq4 has no such
// option and allocates whatever size a frame's header announces, so a
// peer that announces 2^40 bytes would take all memory. Locust's messages
// are a few KiB; a spawn message with thousands of classes stays far
// below this.
const maxFrameSize = 64 << 20

// zmtpScheme is the endpoint scheme of limitTransport.
const zmtpScheme = "tcp-limited"

var registerOnce sync.Once

// registerTransport makes zmtpScheme:// endpoints dial through
// limitTransport.
func registerTransport() {
	registerOnce.Do(func() {
		if err := zmq4.RegisterTransport(zmtpScheme, limitTransport{inner: transport.New("tcp")}); err != nil {
			panic(err) // registered once, under a name of its own
		}
	})
}

// limitTransport is TCP whose connections check the ZMTP stream they
// carry before zmq4 reads it: frame sizes against maxFrameSize, and the
// handshake against a deadline.
type limitTransport struct{ inner transport.Transport }

// handshakeTimeout bounds the ZMTP greeting and the first command (READY)
// from the master: a peer that accepts and says nothing (a frozen master
// whose kernel still completes connects, or something else on the port)
// would hold the dial forever.
const handshakeTimeout = connectTimeout

func (t limitTransport) Dial(ctx context.Context, d transport.Dialer, addr string) (net.Conn, error) {
	c, err := t.inner.Dial(ctx, d, addr)
	if err != nil {
		return nil, err
	}
	lc := newLimitConn(c, maxFrameSize, handshakeTimeout)
	if h, ok := ctx.Value(dialedKey{}).(*dialed); ok {
		h.conn.Store(lc)
	}
	return lc, nil
}

// dialedKey carries a *dialed in the context a socket dials with, so that
// the socket's owner can ask its connection why it ended: zmq4 reports a
// refused frame only to a receive, and a send failing on the closed
// connection may be what the worker sees first.
type dialedKey struct{}

type dialed struct{ conn atomic.Pointer[limitConn] }

// refused returns the frame the connection refused, if it did.
func (d *dialed) refused() error {
	if c := d.conn.Load(); c != nil {
		if e := c.refused.Load(); e != nil {
			return e
		}
	}
	return nil
}

func (t limitTransport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	return nil, errors.New("the worker only dials its master")
}

func (t limitTransport) Addr(ep string) (string, error) { return t.inner.Addr(ep) }

// FrameTooLargeError is a ZMTP frame whose header announces more than
// the worker accepts.
type FrameTooLargeError struct {
	Size, Max uint64
}

func (e *FrameTooLargeError) Error() string {
	return "master announced a ZMTP frame of " + strconv.FormatUint(e.Size, 10) +
		" bytes, over the limit of " + strconv.FormatUint(e.Max, 10)
}

// HandshakeTimeoutError is a master that did not complete the ZMTP
// handshake in time.
type HandshakeTimeoutError struct{ After time.Duration }

func (e *HandshakeTimeoutError) Error() string {
	return "no ZMTP handshake from master within " + e.After.String()
}

// Timeout lets callers treat it as any other timeout.
func (e *HandshakeTimeoutError) Timeout() bool { return true }

// limitConn follows the ZMTP 3 stream as it is read: a 64-byte greeting,
// then frames, each a flags byte (bit 1: an 8-byte size follows, else a
// 1-byte one; bit 2: a command) and its body. A read that would hand zmq4
// the last byte of a size over max fails instead, so zmq4 never allocates
// it; the connection is then closed and the worker reconnects.
type limitConn struct {
	net.Conn
	max     uint64
	timeout time.Duration

	greeting  int     // greeting bytes still to pass
	sizeLen   int     // size bytes of the current header, 0 outside a header
	sizeGot   int     // of which read
	size      [8]byte // the size being read
	command   bool    // the current frame is a command
	body      uint64  // body bytes of the current frame still to pass
	handshake bool    // until the first command has been read
	err       error   // sticky: once the stream is refused
	refused   atomic.Pointer[FrameTooLargeError]
	written   atomic.Int64 // bytes written, so a send can tell it reached the wire
}

// Write counts what it wrote: zmq4 drops a message silently once it has
// removed a closed connection, and its sender must not count that as sent.
func (c *limitConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

func newLimitConn(c net.Conn, max uint64, timeout time.Duration) *limitConn {
	lc := &limitConn{Conn: c, max: max, timeout: timeout, greeting: 64, handshake: true}
	if timeout > 0 {
		c.SetDeadline(time.Now().Add(timeout))
	}
	return lc
}

func (c *limitConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if err != nil && c.handshake && c.timeout > 0 {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = &HandshakeTimeoutError{After: c.timeout}
		}
	}
	for i := 0; i < n; {
		switch {
		case c.greeting > 0:
			k := min(c.greeting, n-i)
			c.greeting -= k
			i += k
		case c.body > 0:
			k := min(c.body, uint64(n-i))
			c.body -= k
			i += int(k)
			if c.body == 0 {
				c.frameDone()
			}
		case c.sizeLen == 0: // a flags byte
			flags := p[i]
			c.command = flags&0x04 != 0
			c.sizeLen, c.sizeGot = 1, 0
			if flags&0x02 != 0 {
				c.sizeLen = 8
			}
			i++
		default: // a size byte
			c.size[8-c.sizeLen+c.sizeGot] = p[i]
			c.sizeGot++
			if c.sizeGot < c.sizeLen {
				i++
				continue
			}
			var size uint64
			if c.sizeLen == 1 {
				size = uint64(c.size[7])
			} else {
				size = binary.BigEndian.Uint64(c.size[:])
			}
			c.size = [8]byte{}
			if size > c.max {
				// Withhold this byte: zmq4 sees a header cut short and
				// the error, never the size.
				big := &FrameTooLargeError{Size: size, Max: c.max}
				c.err = big
				c.refused.Store(big)
				return i, c.err
			}
			c.sizeLen = 0
			c.body = size
			i++
			if size == 0 {
				c.frameDone()
			}
		}
	}
	return n, err
}

// frameDone ends a frame; the first whole command (READY) ends the
// handshake and its deadline.
func (c *limitConn) frameDone() {
	if c.command && c.handshake {
		c.handshake = false
		c.Conn.SetDeadline(time.Time{})
	}
	c.command = false
}

var _ transport.Transport = limitTransport{}

// dialEndpoint is the zmq4 endpoint of a master.
func dialEndpoint(host string, port int) string {
	return fmt.Sprintf("%s://%s", zmtpScheme, net.JoinHostPort(host, strconv.Itoa(port)))
}
