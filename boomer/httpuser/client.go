// Package httpuser is the HTTP client of one simulated user: one TCP
// connection per user (so N users hold N connections, as N Python HttpUsers
// do), kept alive between requests unless asked to close after each, with
// failures named the way Locust's HttpUser names them so that Go and Python
// workers group the same failures under the same text.
package httpuser

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// Recorder receives the outcome of each request; *boomer.User is one.
type Recorder interface {
	RecordSuccess(method, name string, elapsed time.Duration, contentLength int64)
	RecordFailure(method, name string, elapsed time.Duration, err string)
}

// Options tune a Client.
type Options struct {
	// Close sends Connection: close and opens a new connection for every
	// request.
	Close bool
	// Timeout bounds each request, connecting included. 0 waits forever,
	// as HttpUser does by default.
	Timeout time.Duration
	// UserAgent is sent with every request; empty means "serverlab-boomer".
	UserAgent string
}

// Client is one user's connection to a target. It is not safe for
// concurrent use: each user calls it from its own goroutine.
type Client struct {
	opts   Options
	addr   string // host:port to dial
	host   string // the Host header
	prefix string // the base URL's path, prepended to every request path
	dialer net.Dialer

	mu   sync.Mutex // guards conn and done against the context's closer
	conn *countingConn
	done bool
	stop func() bool
	br   *bufio.Reader
	bw   *bufio.Writer

	req  fasthttp.Request
	resp fasthttp.Response
}

// New makes a client for the base URL base (http://host[:port][/prefix]).
// It connects lazily, on the first request. When ctx is done the connection
// is closed, which also ends a request in flight.
func New(ctx context.Context, base string, opts Options) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("host %q: %v", base, err)
	}
	switch {
	case u.Scheme == "https":
		return nil, fmt.Errorf("host %q: https is not supported, use http://", base)
	case u.Scheme != "http" || u.Host == "":
		return nil, fmt.Errorf("host %q: want http://HOST[:PORT]", base)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "serverlab-boomer"
	}
	c := &Client{
		opts:   opts,
		addr:   net.JoinHostPort(u.Hostname(), port),
		host:   u.Host,
		prefix: strings.TrimSuffix(u.Path, "/"),
		dialer: net.Dialer{Timeout: opts.Timeout},
	}
	c.stop = context.AfterFunc(ctx, func() { c.Close() })
	return c, nil
}

// Close closes the connection; later requests fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	if c.stop != nil {
		c.stop()
	}
	if c.conn != nil {
		err := c.conn.Close()
		c.conn = nil
		return err
	}
	return nil
}

// GET requests path (relative to the base URL) and records the outcome
// under name, or under path when name is empty, as Locust does. A status of
// 400 or more is a failure, as HttpUser's raise_for_status makes it. The
// returned error is the one recorded, for callers that report it themselves.
// Requests cut short by Close are not recorded.
func (c *Client) GET(r Recorder, path, name string) error {
	if name == "" {
		name = path
	}
	start := time.Now()
	n, err := c.do(path, name)
	elapsed := time.Since(start)
	switch {
	case errors.Is(err, ErrClosed):
		// The user is being stopped: what was cut short is no failure.
		return err
	case err != nil:
		r.RecordFailure("GET", name, elapsed, ErrorName(err))
		return err
	}
	r.RecordSuccess("GET", name, elapsed, n)
	return nil
}

// do sends one GET and reads the whole response, returning the body length.
func (c *Client) do(path, name string) (int64, error) {
	conn, err := c.connection()
	if err != nil {
		return 0, err
	}
	if c.opts.Timeout > 0 {
		conn.SetDeadline(time.Now().Add(c.opts.Timeout))
	}
	req := &c.req
	req.Reset()
	req.Header.SetMethod("GET")
	req.SetRequestURI(c.prefix + path)
	req.Header.SetHost(c.host)
	req.Header.Set("User-Agent", c.opts.UserAgent)
	req.Header.Set("Accept", "*/*")
	if c.opts.Close {
		req.SetConnectionClose()
	}
	conn.err, conn.read = nil, 0
	if err := req.Write(c.bw); err != nil {
		c.drop()
		return 0, c.wireError(err, conn)
	}
	if err := c.bw.Flush(); err != nil {
		c.drop()
		return 0, c.wireError(err, conn)
	}
	resp := &c.resp
	resp.Reset()
	if err := resp.Read(c.br); err != nil {
		c.drop()
		return 0, c.wireError(err, conn)
	}
	if c.opts.Close || resp.ConnectionClose() {
		c.drop()
	}
	n := int64(len(resp.Body()))
	if status := resp.StatusCode(); status >= 400 && status < 600 {
		return n, &StatusError{Status: status, Reason: string(resp.Header.StatusMessage()), URL: name}
	}
	return n, nil
}

// connection returns the open connection, or dials a new one. A kept-alive
// connection the server has closed meanwhile is replaced first, as
// urllib3's pool does, so that an idle timeout on the server is not
// counted as a failed request.
func (c *Client) connection() (*countingConn, error) {
	c.mu.Lock()
	conn, done := c.conn, c.done
	c.mu.Unlock()
	if done {
		return nil, ErrClosed
	}
	if conn != nil && !dropped(conn.Conn) {
		return conn, nil
	}
	if conn != nil {
		c.drop()
	}
	nc, err := c.dialer.Dial("tcp", c.addr)
	if err != nil {
		if isTimeout(err) {
			return nil, &TimeoutError{Addr: c.addr, After: c.opts.Timeout, Connect: true}
		}
		return nil, err
	}
	conn = &countingConn{Conn: nc}
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		nc.Close()
		return nil, ErrClosed
	}
	c.conn = conn
	c.mu.Unlock()
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, 4096)
		c.bw = bufio.NewWriterSize(conn, 512)
	} else {
		c.br.Reset(conn)
		c.bw.Reset(conn)
	}
	return conn, nil
}

// drop closes the current connection so that the next request dials anew.
func (c *Client) drop() {
	c.mu.Lock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
	c.mu.Unlock()
}

// wireError turns what fasthttp reports into the error behind it: fasthttp
// reports any failure on a response's first byte as io.EOF, while the
// socket may have said ECONNRESET or timed out.
func (c *Client) wireError(err error, conn *countingConn) error {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	if done {
		return ErrClosed
	}
	if conn.err != nil && !errors.Is(conn.err, io.EOF) {
		err = conn.err
	}
	if isTimeout(err) || errors.Is(err, fasthttp.ErrTimeout) {
		return &TimeoutError{Addr: c.addr, After: c.opts.Timeout}
	}
	if errors.Is(err, io.EOF) && conn.read == 0 {
		return errRemoteDisconnected
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errIncompleteRead
	}
	return err
}

// dropped reports whether the peer closed (or sent unasked-for bytes on) a
// kept-alive connection, without waiting: a non-blocking MSG_PEEK.
func dropped(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		gone = n > 0 || (n == 0 && err == nil) || (err != nil && err != unix.EAGAIN && err != unix.EINTR)
		return true
	})
	return gone || err != nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// countingConn remembers what the last reads saw, because fasthttp folds
// every error on a response's first byte into io.EOF.
type countingConn struct {
	net.Conn
	read int64
	err  error
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read += int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}

// StatusError is a response with a 4xx or 5xx status.
type StatusError struct {
	Status int
	Reason string // the server's reason phrase
	URL    string // what HttpUser puts after "for url:": the request's name
}

func (e *StatusError) Error() string {
	kind := "Client"
	if e.Status >= 500 {
		kind = "Server"
	}
	reason := e.Reason
	if reason == "" {
		reason = fasthttp.StatusMessage(e.Status)
	}
	return strconv.Itoa(e.Status) + " " + kind + " Error: " + reason + " for url: " + e.URL
}

// TimeoutError is a request that outlived Options.Timeout.
type TimeoutError struct {
	Addr    string
	After   time.Duration // Options.Timeout
	Connect bool          // still connecting
}

func (e *TimeoutError) Error() string {
	if e.Connect {
		return "connect to " + e.Addr + " timed out after " + e.After.String()
	}
	return "read from " + e.Addr + " timed out after " + e.After.String()
}

// Timeout lets callers treat it as any other timeout.
func (e *TimeoutError) Timeout() bool { return true }

var (
	// ErrClosed is returned, and nothing recorded, once the client is
	// closed or its context done.
	ErrClosed             = errors.New("client closed")
	errRemoteDisconnected = errors.New("remote end closed connection without response")
	errIncompleteRead     = errors.New("connection broken: incomplete read")
)
