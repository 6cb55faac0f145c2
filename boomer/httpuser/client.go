// Package httpuser is the HTTP client of one simulated user: one TCP
// connection per user (so N users hold N connections, as N Python HttpUsers
// do), kept alive between requests unless asked to close after each, with
// failures named the way Locust's HttpUser names them so that Go and Python
// workers group the same failures under the same text.
package httpuser

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http/httputil"
	"os"
	"slices"
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
	// ConnectTimeout bounds establishing a connection; 0 waits as long
	// as the kernel does.
	ConnectTimeout time.Duration
	// ResponseTimeout bounds each wait for the response: for its first
	// byte, and for each next one. It is the read timeout of requests
	// (Python), which applies to each socket read, so a response that
	// keeps arriving is never cut however long it takes in all, and a
	// server that stalls fails after the same time in Go and in Python.
	// Sending the request is bounded by ConnectTimeout, as urllib3 does.
	// 0 waits forever.
	ResponseTimeout time.Duration
	// UserAgent is sent with every request; empty means "serverlab-boomer".
	UserAgent string
	// Sources, when not nil, are the local addresses users dial from, one
	// each, in turn (see Sources).
	Sources *Sources
	// MaxBody is the most body bytes a response may have; a longer one is
	// a failure (BodyTooLargeError) and its connection is dropped, as
	// curl's --max-filesize does. 0 means DefaultMaxBody. Bodies are
	// counted and discarded as they arrive, never kept, so a user holds a
	// few KiB whatever the server sends.
	MaxBody int64
}

// DefaultMaxBody is far above the site's largest file (a photo of a few
// hundred KiB) and far below what hurts a worker.
const DefaultMaxBody = 16 << 20

// Client is one user's connection to a target. It is not safe for
// concurrent use: each user calls it from its own goroutine.
type Client struct {
	ctx    context.Context // ends dials and requests of a stopped user
	opts   Options
	target target       // where requests go, and how their paths are joined
	others origins      // clients for the other origins redirects lead to
	local  *net.TCPAddr // the source address to dial from; nil: the kernel's choice
	status int          // the last response's status, for fetch's redirect rules

	mu   sync.Mutex // guards conn and done against the context's closer
	conn *countingConn
	done bool
	stop func() bool
}

// A request's buffers and heads come from pools and go back as soon as
// they are done with, as fasthttp's own client does: a user holds its
// writer while it sends, and its reader from the moment the response's
// first bytes are there until the response is read. A user between
// requests, or waiting for a slow server, holds its connection and
// little else, so 10,000 users share the few buffers in use at a time.
type sender struct {
	bw  *bufio.Writer
	req fasthttp.Request
}

type receiver struct {
	br   *bufio.Reader
	resp fasthttp.ResponseHeader
	head [headSize]byte // the response's first bytes, to name a malformed one
}

var (
	senders   = sync.Pool{New: func() any { return &sender{bw: bufio.NewWriterSize(nil, 512)} }}
	receivers = sync.Pool{New: func() any { return &receiver{br: bufio.NewReaderSize(nil, 4096)} }}
)

// New makes a client for the base URL base (http[s]://host[:port][rest]),
// joined to each request's path as Locust's HttpUser joins them (see
// target). It connects lazily, on the first request. When ctx is done the
// connection is closed, which also ends a request in flight.
func New(ctx context.Context, base string, opts Options) (*Client, error) {
	t, err := parseTarget(base)
	if err != nil {
		return nil, err
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "serverlab-boomer"
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	c := &Client{
		ctx:    ctx,
		opts:   opts,
		target: t,
		local:  opts.Sources.next(),
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
	c.others.close()
	if c.conn != nil {
		err := c.conn.Close()
		c.conn = nil
		return err
	}
	return nil
}

// GET requests path (joined to the base URL, or an absolute http[s] URL)
// and records the outcome under name, or, when name is empty, under the
// path Locust names it by (the base's path and query included). Redirects
// are followed and recorded as one request, as HttpUser does. A status of
// 400 or more is a failure, as HttpUser's raise_for_status makes it. The
// returned error is the one recorded, for callers that report it themselves.
// Requests cut short by Close are not recorded.
func (c *Client) GET(r Recorder, path, name string) error {
	return c.Do(r, &Request{Method: "GET", Path: path, Name: name})
}

// Request is one request for Do.
type Request struct {
	Method string // GET when empty
	Path   string // relative to the base URL, query included
	Name   string // the stats row; the first URL when empty
	Header [][2]string
	Body   []byte
	// Expect, when not nil, lists the status codes that count as success,
	// and any other status is an UnexpectedStatusError, as a Locust task
	// marks it in a catch_response block; nil: a status of 400 or more
	// fails, as with GET.
	Expect []int
}

// method is the request's method, GET when it names none.
func (req *Request) method() string {
	if req.Method == "" {
		return "GET"
	}
	return req.Method
}

// Do makes req and records the outcome as GET does. Do, fetch, do and
// send pass the request by its address: fields passed by value took their
// room in every frame of the chain, and a turn's goroutine grows its stack
// (a copy each time it doubles) to the deepest request's.
func (c *Client) Do(r Recorder, req *Request) error {
	method := req.method()
	start := time.Now()
	n, name, err := c.fetch(req)
	elapsed := time.Since(start)
	switch {
	case errors.Is(err, ErrClosed):
		// The user is being stopped: what was cut short is no failure.
		return err
	case err != nil:
		r.RecordFailure(method, name, elapsed, ErrorName(err))
		var dial *dialError
		if errors.As(err, &dial) && elapsed < minFailedDial {
			c.pause(minFailedDial - elapsed)
		}
		return err
	}
	r.RecordSuccess(method, name, elapsed, n)
	return nil
}

// minFailedDial is the least time a failed connection attempt takes. A
// dial refused at once (EMFILE in the worker, a closed port on loopback)
// would otherwise make a user without wait time spin: hundreds of them
// keep every CPU busy failing, and the worker's reports to the master, and
// the master itself on the same machine, wait for a turn. A Python worker
// in the same spot records a few thousand such failures a second in all,
// slowed by its interpreter; at 10 ms a user still fails a hundred times a
// second (200 users: 20,000 a second), and a request that connects never
// waits here.
const minFailedDial = 10 * time.Millisecond

// pause waits d, or less if the user is stopped meanwhile.
func (c *Client) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
	}
}

// dialError is a failed connection attempt.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// do sends one request for uri and reads the whole response, returning
// the body length, and the Location of a redirect (whose status is not
// judged: requests follows it and only the last response counts).
func (c *Client) do(req *Request, uri, name string) (int64, string, error) {
	conn, err := c.connection()
	if err != nil {
		return 0, "", err
	}
	conn.startResponse()
	werr := c.send(conn, req, uri)
	// urllib3 ignores a broken pipe or a reset while sending and reads
	// what the server said before it closed: an answer, or the error the
	// read meets.
	if werr != nil && !errors.Is(werr, syscall.EPIPE) && !errors.Is(werr, syscall.ECONNRESET) {
		c.drop()
		return 0, "", c.wireError(werr, conn)
	}
	if err := conn.awaitResponse(); err != nil {
		c.drop()
		return 0, "", c.wireError(err, conn)
	}
	x := receivers.Get().(*receiver)
	x.br.Reset(conn)
	conn.head = x.head[:0]
	defer func() {
		conn.head = nil
		x.br.Reset(nil)
		receivers.Put(x)
	}()
	h := &x.resp
	h.Reset()
	if err := readHead(h, x.br); err != nil {
		c.drop()
		return 0, "", c.wireError(err, conn)
	}
	n, untilClose, err := readBody(h, x.br, c.opts.MaxBody)
	if err != nil {
		c.drop()
		var big *BodyTooLargeError
		if errors.As(err, &big) {
			return 0, "", err
		}
		return 0, "", c.wireError(err, conn)
	}
	// Bytes past the response were not asked for: the connection is out of
	// step with the server (as dropped says of such bytes on the socket),
	// and they cannot wait in a buffer that goes back to the pool.
	if werr != nil || untilClose || c.opts.Close || h.ConnectionClose() || x.br.Buffered() > 0 {
		c.drop()
	}
	status := h.StatusCode()
	c.status = status
	if loc := redirectTo(h); loc != "" {
		return n, loc, nil
	}
	if req.Expect != nil {
		if !slices.Contains(req.Expect, status) {
			return n, "", &UnexpectedStatusError{Status: status, Expect: req.Expect}
		}
		return n, "", nil
	}
	if status >= 400 && status < 600 {
		return n, "", &StatusError{Status: status, Reason: string(h.StatusMessage()), URL: name}
	}
	return n, "", nil
}

// send writes the request for uri.
func (c *Client) send(conn *countingConn, r *Request, uri string) error {
	// urllib3 sends the request under the connect timeout and reads the
	// response under the read timeout; so does this client.
	conn.armWrite(c.opts.ConnectTimeout)
	x := senders.Get().(*sender)
	defer func() {
		x.bw.Reset(nil)
		senders.Put(x)
	}()
	x.bw.Reset(conn)
	req := &x.req
	req.Reset()
	req.Header.SetMethod(r.method())
	req.SetRequestURI(uri)
	req.Header.SetHost(c.target.host)
	req.Header.Set("User-Agent", c.opts.UserAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range r.Header {
		req.Header.Set(h[0], h[1])
	}
	if r.Body != nil {
		req.SetBodyRaw(r.Body)
	}
	if c.opts.Close {
		req.SetConnectionClose()
	}
	if err := req.Write(x.bw); err != nil {
		return err
	}
	return x.bw.Flush()
}

// readHead reads a response's head, past any interim 1xx response.
func readHead(h *fasthttp.ResponseHeader, br *bufio.Reader) error {
	for {
		if err := h.Read(br); err != nil {
			return err
		}
		if s := h.StatusCode(); s < 100 || s > 199 || s == 101 {
			return nil
		}
		h.Reset()
	}
}

// readBody reads the body that follows head h and throws it away, counting
// it: the users only need its length, which is what Locust records. A body
// past max fails before more than max bytes of it are read; a body
// announced past max fails before any is read. untilClose says the body
// ended with the connection.
func readBody(h *fasthttp.ResponseHeader, br *bufio.Reader, max int64) (n int64, untilClose bool, err error) {
	if s := h.StatusCode(); s == 204 || s == 304 || s == 101 {
		return 0, false, nil
	}
	switch cl := h.ContentLength(); {
	case cl >= 0:
		if int64(cl) > max {
			return 0, false, &BodyTooLargeError{Max: max, Announced: int64(cl)}
		}
		// Discard reads through the reader's own buffer: no copy, no
		// allocation, and one read for a body that came with its head.
		var d int
		d, err = br.Discard(cl)
		n = int64(d)
		if err == io.EOF {
			err = &IncompleteReadError{Read: n, Expected: int64(cl) - n}
		}
		return n, false, err
	case cl == -1: // chunked
		n, err = discardAtMost(httputil.NewChunkedReader(br), max)
		if err == nil {
			err = skipTrailer(br)
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, false, err
	default: // no length: the body runs until the server closes
		n, err = discardAtMost(br, max)
		return n, true, err
	}
}

// discardAtMost reads r to its end, failing once more than max bytes came.
func discardAtMost(r io.Reader, max int64) (int64, error) {
	n, err := io.Copy(io.Discard, io.LimitReader(r, max+1))
	if err != nil {
		return n, err
	}
	if n > max {
		return n, &BodyTooLargeError{Max: max, Announced: -1}
	}
	return n, nil
}

// skipTrailer reads the trailer fields after a chunked body, up to the
// empty line that ends the response.
func skipTrailer(br *bufio.Reader) error {
	for i := 0; ; i++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
		if i == maxTrailers {
			return errMalformed
		}
	}
}

// maxTrailers is how many trailer fields a chunked body may end with;
// Python's http.client allows 100 header lines.
const maxTrailers = 100

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
	if conn != nil {
		// The last response's read deadline may have passed while the user
		// waited; the check below must see the socket, not the deadline.
		conn.armRead(time.Now())
		if !dropped(conn.peer) {
			return conn, nil
		}
	}
	if conn != nil {
		c.drop()
	}
	// The user's context ends a dial in progress: a user being stopped
	// must not wait out the connect timeout in a full backlog.
	d := net.Dialer{Timeout: c.opts.ConnectTimeout}
	if c.local != nil {
		d.LocalAddr, d.Control = c.local, bindAddressNoPort
	}
	nc, err := d.DialContext(c.ctx, "tcp", c.target.addr)
	if err != nil {
		if c.ctx.Err() != nil {
			return nil, ErrClosed
		}
		if isTimeout(err) {
			return nil, &dialError{&TimeoutError{Addr: c.target.addr, After: c.opts.ConnectTimeout, Connect: true, HTTPS: c.target.https}}
		}
		return nil, &dialError{err}
	}
	if nc, err = c.secure(nc); err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, &dialError{err}
	}
	conn = &countingConn{Conn: nc, timeout: c.opts.ResponseTimeout}
	if sc, ok := rawConn(nc).(syscall.Conn); ok {
		conn.peer, _ = sc.SyscallConn()
	}
	// Over TLS the socket's bytes are records, and the TLS layer may hold
	// a response's plaintext already read: only a plain connection waits
	// for its response on the socket.
	if !c.target.https {
		conn.raw = conn.peer
	}
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		nc.Close()
		return nil, ErrClosed
	}
	c.conn = conn
	c.mu.Unlock()
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
		return &TimeoutError{Addr: c.target.addr, After: c.opts.ResponseTimeout, HTTPS: c.target.https}
	}
	if conn.read == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return errRemoteDisconnected
	}
	var short *IncompleteReadError
	if errors.As(err, &short) {
		return err
	}
	// Python reads the status line first and judges it alone.
	if line, ok := badStatusLine(conn.head); ok {
		return &BadStatusLineError{Line: line}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errIncompleteRead
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return err
	}
	// What is left is fasthttp's or the chunk reader's complaint about the
	// bytes, which quotes them: one name keeps every garbled response in
	// one Failures row.
	return errMalformed
}

// badStatusLine applies the check of Python's http.client to the first
// line of a response: it is returned, as read, when Python would raise
// BadStatusLine for it.
func badStatusLine(head []byte) (string, bool) {
	if len(head) == 0 {
		return "", false
	}
	line := head
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		line = head[:i+1]
	}
	fields := strings.Fields(string(line))
	if len(fields) == 0 || !strings.HasPrefix(fields[0], "HTTP/") {
		return latin1(line), true
	}
	if len(fields) < 2 {
		return latin1(line), true
	}
	status, err := strconv.Atoi(fields[1])
	if err != nil || status < 100 || status > 999 {
		return latin1(line), true
	}
	return "", false
}

// latin1 decodes b as Python decodes a status line: ISO-8859-1.
func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// dropped reports whether the peer closed (or sent unasked-for bytes on) a
// kept-alive connection, without waiting: a non-blocking MSG_PEEK.
func dropped(rc syscall.RawConn) bool {
	if rc == nil {
		return false
	}
	gone := false
	var b [1]byte
	err := rc.Read(func(fd uintptr) bool {
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

// headSize is how much of each response is kept to name a malformed one.
const headSize = 1024

// countingConn remembers what the reads of one response saw, because
// fasthttp folds every error on a response's first byte into io.EOF and
// does not say how much of a body came; it also keeps the read deadline
// ahead of each read, which makes the response timeout one per wait.
type countingConn struct {
	net.Conn
	peer    syscall.RawConn // the socket, for dropped; nil when there is none
	raw     syscall.RawConn // the socket awaitResponse waits on; nil: none (TLS)
	timeout time.Duration   // the response timeout; 0: none
	readDL  time.Time       // the read deadline set last
	writeDL time.Time       // the write deadline set last
	read    int64
	err     error
	head    []byte // the response's first bytes, into a receiver's buffer

	// awaitResponse's state, kept with the connection so that waiting
	// allocates nothing.
	peek    func(fd uintptr) bool
	peeked  bool
	peekErr error
	peekBuf [1]byte
}

// startResponse resets what is remembered, before a request is sent.
func (c *countingConn) startResponse() {
	c.read, c.err, c.head = 0, nil, nil
}

// awaitResponse waits, holding no buffer, until the response's first
// bytes (or the server's close) can be read, or the response timeout
// passes. The poller does the waiting: a non-blocking MSG_PEEK first, and
// when nothing is there yet, the poller's word that something is (a rare
// spurious wake-up only means the read that follows waits, as a plain
// read would). That is as many system calls as reading straight away.
func (c *countingConn) awaitResponse() error {
	if c.raw == nil {
		return nil
	}
	c.armRead(time.Now())
	if c.peek == nil {
		c.peek = func(fd uintptr) bool {
			if c.peeked {
				return true // woken by the poller: readable
			}
			c.peeked = true
			_, _, err := unix.Recvfrom(int(fd), c.peekBuf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			switch err {
			case unix.EAGAIN, unix.EINTR:
				return false
			case nil:
			default:
				c.peekErr = err
			}
			return true
		}
	}
	c.peeked, c.peekErr = false, nil
	err := c.raw.Read(c.peek)
	if err == nil && c.peekErr != nil {
		// The socket's error (a reset, say): the peek took it, a read
		// would now see none.
		err = os.NewSyscallError("read", c.peekErr)
	}
	if err != nil {
		c.err = err
	}
	return err
}

// Deadlines are moved lazily: a deadline is set only when the one in place
// would end the wait at hand sooner than the timeout, and then a little
// further than needed, so that a user making thousands of requests a
// second sets one every deadlineSlack instead of one per read and write
// (each is a lock and a timer change in the runtime's poller). A wait is
// never cut before the timeout; a silence fails after the timeout and at
// most deadlineSlack more.
func deadlineSlack(timeout time.Duration) time.Duration {
	return min(timeout/8, 100*time.Millisecond)
}

// armRead makes the read deadline at least the response timeout from now.
func (c *countingConn) armRead(now time.Time) {
	if c.timeout <= 0 || !c.readDL.Before(now.Add(c.timeout)) {
		return
	}
	c.readDL = now.Add(c.timeout + deadlineSlack(c.timeout))
	c.Conn.SetReadDeadline(c.readDL)
}

// armWrite makes the write deadline at least timeout from now, or clears
// it for a timeout of 0.
func (c *countingConn) armWrite(timeout time.Duration) {
	if timeout <= 0 {
		if !c.writeDL.IsZero() {
			c.writeDL = time.Time{}
			c.Conn.SetWriteDeadline(c.writeDL)
		}
		return
	}
	now := time.Now()
	if !c.writeDL.Before(now.Add(timeout)) {
		return
	}
	c.writeDL = now.Add(timeout + deadlineSlack(timeout))
	c.Conn.SetWriteDeadline(c.writeDL)
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.armRead(time.Now())
	n, err := c.Conn.Read(p)
	c.read += int64(n)
	if room := cap(c.head) - len(c.head); room > 0 && n > 0 {
		c.head = append(c.head, p[:min(n, room)]...)
	}
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

// UnexpectedStatusError is a response whose status is not one of those a
// declared request expects.
type UnexpectedStatusError struct {
	Status int
	Expect []int
}

// Error is the text a declared user's Python task gives the failure.
func (e *UnexpectedStatusError) Error() string {
	var b strings.Builder
	b.WriteString("status ")
	b.WriteString(strconv.Itoa(e.Status))
	b.WriteString(", expected ")
	for i, s := range e.Expect {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString(strconv.Itoa(s))
	}
	return b.String()
}

// TimeoutError is a connection not made within Options.ConnectTimeout, or
// a server silent for Options.ResponseTimeout.
type TimeoutError struct {
	Addr    string
	After   time.Duration // the timeout that ran out
	Connect bool          // still connecting
	HTTPS   bool          // to an https target
}

func (e *TimeoutError) Error() string {
	if e.Connect {
		return "connect to " + e.Addr + " timed out after " + e.After.String()
	}
	return "read from " + e.Addr + " timed out after " + e.After.String()
}

// Timeout lets callers treat it as any other timeout.
func (e *TimeoutError) Timeout() bool { return true }

// BadStatusLineError is a response whose first line is not an HTTP
// status line.
type BadStatusLineError struct {
	Line string // as read, line end included
}

func (e *BadStatusLineError) Error() string { return "bad status line " + strconv.Quote(e.Line) }

// BodyTooLargeError is a response whose body is longer than
// Options.MaxBody.
type BodyTooLargeError struct {
	Max       int64
	Announced int64 // the Content-Length, or -1 when the body had none
}

func (e *BodyTooLargeError) Error() string {
	return "response body over " + strconv.FormatInt(e.Max, 10) + " bytes"
}

// IncompleteReadError is a response body cut short of its Content-Length.
type IncompleteReadError struct {
	Read, Expected int64 // bytes of the body read, and still missing
}

func (e *IncompleteReadError) Error() string {
	return "IncompleteRead(" + strconv.FormatInt(e.Read, 10) + " bytes read, " + strconv.FormatInt(e.Expected, 10) + " more expected)"
}

var (
	// ErrClosed is returned, and nothing recorded, once the client is
	// closed or its context done.
	ErrClosed             = errors.New("client closed")
	errRemoteDisconnected = errors.New("remote end closed connection without response")
	errIncompleteRead     = errors.New("connection broken: incomplete read")
	errMalformed          = errors.New("malformed response")
)
