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
	"time"

	"github.com/go-zeromq/zmq4"
)

// masterConn is one ZeroMQ DEALER connection to a Locust master's ROUTER.
// Sends are serialized; one goroutine receives.
type masterConn struct {
	sock   zmq4.Socket
	dialed *dialed
	nodeID string
	mu     sync.Mutex
	once   sync.Once
	cancel context.CancelFunc // ends the socket's context
}

// dialMaster connects once, without zmq4's own retries: the caller retries
// with back-off and logs each try.
func dialMaster(ctx context.Context, host string, port int, nodeID string, timeout time.Duration) (*masterConn, error) {
	d := &dialed{}
	// The socket outlives ctx: a worker told to stop (ctx done) still
	// sends its last stats and quit on it. ctx ends the dial only.
	sctx, cancel := context.WithCancel(context.WithValue(context.WithoutCancel(ctx), dialedKey{}, d))
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	sock := zmq4.NewDealer(sctx,
		zmq4.WithID(zmq4.SocketIdentity(nodeID)),
		zmq4.WithDialerMaxRetries(0),
		zmq4.WithDialerTimeout(timeout),
		zmq4.WithTimeout(timeout),
		zmq4.WithLogger(log.New(io.Discard, "", 0)),
	)
	registerTransport()
	if err := sock.Dial(dialEndpoint(host, port)); err != nil {
		sock.Close()
		cancel()
		ep := "tcp://" + net.JoinHostPort(host, strconv.Itoa(port))
		return nil, fmt.Errorf("connect to master %s: %w", ep, unwrapDial(err))
	}
	if !stop() {
		sock.Close()
		return nil, fmt.Errorf("connect to master: %w", ctx.Err())
	}
	return &masterConn{sock: sock, dialed: d, nodeID: nodeID, cancel: cancel}, nil
}

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
	if err := c.sock.Send(zmq4.NewMsg(b)); err != nil {
		return fmt.Errorf("send %s to master: %w", typ, err)
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
