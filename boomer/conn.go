package boomer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"
)

// masterConn is one ZeroMQ DEALER connection to a Locust master's ROUTER.
// Sends are serialized; one goroutine receives.
type masterConn struct {
	sock   zmq4.Socket
	dialed *dialed
	nodeID string
	// sendTimeout bounds each send: a master that takes no bytes for
	// that long (frozen, its kernel buffers full) ends the connection.
	sendTimeout time.Duration
	mu          sync.Mutex
	once        sync.Once
	failed      atomic.Pointer[error] // the send that broke the connection
	cancel      context.CancelFunc    // ends the socket's context
}

// dialMaster connects once, without zmq4's own retries: the caller retries
// with back-off and logs each try. ctx bounds the dial only: a worker
// told to stop still sends its last stats on the connection.
func dialMaster(ctx context.Context, host string, port int, nodeID string, timeout, sendTimeout time.Duration) (*masterConn, error) {
	d := &dialed{}
	// The socket outlives ctx: a worker told to stop (ctx done) still
	// sends its last stats and quit on it. ctx ends the dial only.
	sockCtx, cancelSock := context.WithCancel(context.WithValue(context.WithoutCancel(ctx), dialedKey{}, d))
	sock := zmq4.NewDealer(sockCtx,
		zmq4.WithID(zmq4.SocketIdentity(nodeID)),
		zmq4.WithDialerMaxRetries(0),
		zmq4.WithDialerTimeout(timeout),
		// zmq4's send timeout only stops waiting: its write goes on in
		// the background, where a later send would interleave with it.
		// The connection's write deadline (send) ends the write itself,
		// so zmq4's must not come first.
		zmq4.WithTimeout(sendTimeout+timeout),
		zmq4.WithLogger(log.New(io.Discard, "", 0)),
	)
	registerTransport()
	stop := context.AfterFunc(ctx, cancelSock)
	err := sock.Dial(dialEndpoint(host, port))
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		sock.Close()
		cancelSock()
		ep := "tcp://" + net.JoinHostPort(host, strconv.Itoa(port))
		return nil, fmt.Errorf("connect to master %s: %w", ep, unwrapDial(err))
	}
	return &masterConn{sock: sock, dialed: d, nodeID: nodeID, sendTimeout: sendTimeout, cancel: cancelSock}, nil
}

// errConnClosed is a send zmq4 took without writing it anywhere: its
// connection to the master had ended.
var errConnClosed = errors.New("connection to master closed")

// SendTimeoutError is a message the master did not take within the send
// timeout: it has stopped reading (frozen, or overwhelmed).
type SendTimeoutError struct {
	Type  string
	After time.Duration
}

func (e *SendTimeoutError) Error() string {
	return "master took no " + e.Type + " message within " + e.After.String() + ": it stopped reading"
}

// Timeout lets callers treat it as any other timeout.
func (e *SendTimeoutError) Timeout() bool { return true }

// unwrapDial drops zmq4's wrapping, which repeats the endpoint.
func unwrapDial(err error) error {
	var hs *HandshakeTimeoutError
	if errors.As(err, &hs) {
		return hs
	}
	var big *FrameTooLargeError
	if errors.As(err, &big) {
		return big
	}
	var op *net.OpError
	for e := err; e != nil; {
		if o, ok := e.(*net.OpError); ok {
			op = o
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	if op != nil && op.Err != nil {
		return op.Err
	}
	return err
}

func (c *masterConn) send(typ string, data any) error {
	b, err := encodeMessage(message{Type: typ, Data: data, NodeID: c.nodeID})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.failed.Load(); p != nil {
		return fmt.Errorf("send %s to master: connection closed after %w", typ, *p)
	}
	// The deadline stays set after the send: it also bounds a write zmq4
	// may have left running.
	lc := c.dialed.conn.Load()
	var before int64
	if lc != nil {
		lc.SetWriteDeadline(time.Now().Add(c.sendTimeout))
		before = lc.written.Load()
	}
	err = c.sock.Send(zmq4.NewMsg(b))
	if err == nil && (lc == nil || lc.written.Load() == before) {
		err = errConnClosed
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			err = &SendTimeoutError{Type: typ, After: c.sendTimeout}
		} else {
			err = fmt.Errorf("send %s to master: %w", typ, err)
		}
		// A write cut short leaves half a frame on the stream: nothing
		// more can follow it on this connection.
		c.failed.Store(&err)
		c.close()
		return err
	}
	return nil
}

func (c *masterConn) recv() (message, error) {
	msg, err := c.sock.Recv()
	if err != nil {
		return message{}, err
	}
	if len(msg.Frames) != 1 {
		return message{}, &badMessageError{fmt.Errorf("message with %d frames from master, want 1", len(msg.Frames))}
	}
	m, err := decodeMessage(msg.Frames[0])
	if err != nil {
		return message{}, &badMessageError{err}
	}
	return m, nil
}

// badMessageError is a message that could not be decoded; the connection
// itself is fine.
type badMessageError struct{ err error }

func (e *badMessageError) Error() string { return e.err.Error() }
func (e *badMessageError) Unwrap() error { return e.err }

// why says why the connection ended: a frame it refused explains what
// failed after it better than the failure does.
func (c *masterConn) why(err error) string {
	if c.dialed != nil {
		if r := c.dialed.refused(); r != nil {
			return r.Error()
		}
	}
	if p := c.failed.Load(); p != nil {
		return (*p).Error()
	}
	return err.Error()
}

func (c *masterConn) close() {
	c.once.Do(func() {
		c.sock.Close()
		if c.cancel != nil {
			c.cancel()
		}
	})
}

// newNodeID returns a Locust-style node id: <hostname>_<uuid4 hex>.
func newNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "boomer"
	}
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return host + "_" + hex.EncodeToString(u[:])
}
