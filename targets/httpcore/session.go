package httpcore

import (
	"bytes"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

const (
	minRead   = 4 << 10  // Buffer never offers less than this
	startSize = 8 << 10  // a new Session's input buffer
	maxInput  = 16 << 10 // a full head plus a read's worth of the next
)

// Session is one connection's HTTP state: the bytes read and not yet
// parsed, the response bytes not yet written, and a delayed response
// waiting for its time. It is not safe for concurrent use; each connection
// has its own.
type Session struct {
	site *Site

	in   []byte // unparsed input is in[r:w]
	r, w int

	out []byte // pending output is out[o:]
	o   int

	discard int64 // request body bytes still to skip
	eof     bool  // the peer will send nothing more
	closing bool  // close once out is written

	pending    Reply // a delayed response, when pendingSet
	pendingSet bool
	pendingAt  time.Time
	pendingHd  bool // pending is an answer to HEAD
	pendingKA  keepAlive
}

// NewSession starts the state of one connection.
func (s *Site) NewSession() *Session {
	return &Session{site: s, in: make([]byte, startSize)}
}

// Reset makes the Session ready for a new connection, keeping its buffers.
func (c *Session) Reset() {
	site, in, out := c.site, c.in, c.out
	if cap(out) > 4*FlushAt {
		out = nil // a large response's buffer is not kept per idle connection
	}
	*c = Session{site: site, in: in, out: out[:0]}
}

// Buffer is free space to read into; report what was read with Filled.
func (c *Session) Buffer() []byte {
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	if len(c.in)-c.w < minRead && c.r > 0 {
		c.w = copy(c.in, c.in[c.r:c.w])
		c.r = 0
	}
	if len(c.in)-c.w < minRead {
		n := 2 * len(c.in)
		if n < c.w+minRead {
			n = c.w + minRead
		}
		in := make([]byte, n)
		copy(in, c.in[:c.w])
		c.in = in
	}
	return c.in[c.w:]
}

// Filled records that n bytes were read into Buffer().
func (c *Session) Filled(n int) { c.w += n }

// EOF records that the peer closed its side: requests already buffered are
// still answered, then Step says Close.
func (c *Session) EOF() { c.eof = true }

// Output is the response bytes not yet written.
func (c *Session) Output() []byte { return c.out[c.o:] }

// Wrote records that n bytes of Output() were written.
func (c *Session) Wrote(n int) {
	c.o += n
	if c.o == len(c.out) {
		c.o = 0
		c.out = c.out[:0]
	}
}

// WakeAt is when a Wait ends.
func (c *Session) WakeAt() time.Time { return c.pendingAt }

// Idle reports whether the connection is between requests: nothing partial
// read, nothing to write, nothing delayed. The idle timeout applies then;
// otherwise the read timeout does.
func (c *Session) Idle() bool {
	return c.r == c.w && c.o == len(c.out) && !c.pendingSet && c.discard == 0
}

type keepAlive uint8

const (
	kaClose    keepAlive = iota // close after this response
	kaDefault                   // HTTP/1.1 default: say nothing
	kaExplicit                  // HTTP/1.0 keep-alive: say so
)

// Step answers every complete request buffered, in order, and says what the
// connection needs next. See the Step constants.
func (c *Session) Step(now time.Time) Step {
	for {
		if len(c.out)-c.o >= FlushAt {
			return Flush
		}
		if c.pendingSet {
			if now.Before(c.pendingAt) {
				return Wait
			}
			c.pendingSet = false
			c.respond(c.pending, c.pendingHd, c.pendingKA, now)
			c.pending = Reply{}
			continue
		}
		if c.closing {
			return Close
		}
		if c.discard > 0 {
			n := int64(c.w - c.r)
			if n > c.discard {
				n = c.discard
			}
			c.r += int(n)
			c.discard -= n
			if c.discard > 0 {
				if c.eof {
					return Close
				}
				return NeedInput
			}
		}
		// A client may send empty lines before a request line (RFC 9112 2.2).
		for c.r < c.w && (c.in[c.r] == '\r' || c.in[c.r] == '\n') {
			c.r++
		}
		buf := c.in[c.r:c.w]
		end := HeadEnd(buf)
		if end < 0 {
			if len(buf) > MaxHeadBytes {
				c.fail(431, "request head over 8 KiB", now)
				continue
			}
			if c.eof {
				return Close
			}
			if c.w-c.r >= maxInput {
				c.fail(431, "request head over 8 KiB", now)
				continue
			}
			return NeedInput
		}
		if end > MaxHeadBytes {
			c.fail(431, "request head over 8 KiB", now)
			continue
		}
		head := buf[:end]
		c.r += end
		c.request(head, now)
	}
}

// HeadEnd is the length of the request head (through its blank line) at the
// start of b, or -1 if b does not hold a whole head yet. Lines may end in
// CRLF or, leniently, a bare LF. The reference servers' listener uses it
// too, so that every target splits heads the same way.
func HeadEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
		if i >= len(b) {
			return -1
		}
	}
}

// request handles one complete request head.
func (c *Session) request(head []byte, now time.Time) {
	c.site.obs.Request()
	req, reply, ok := c.site.answer(head)
	if !ok {
		c.respond(reply, false, kaClose, now)
		return
	}
	c.discard = req.length
	if reply.Delay > 0 {
		if reply.Block {
			time.Sleep(reply.Delay) // the lesson: this thread serves no one meanwhile
			now = time.Now()
		} else {
			c.pending, c.pendingSet = reply, true
			c.pendingAt = now.Add(reply.Delay)
			c.pendingHd, c.pendingKA = req.head, req.keepAlive
			if req.keepAlive == kaClose {
				c.closing = true
			}
			// An /echo body would alias the input buffer; delayed replies
			// never carry one, but keep them independent of it anyway.
			c.pending.Body = bytes.Clone(reply.Body)
			return
		}
	}
	c.respond(reply, req.head, req.keepAlive, now)
}

// Answer is the core's reply to one complete request head (request line
// through the blank line), for the reference servers, which read requests
// with their library's parser: the same checks, error replies and routing
// as a Session's, so that the references cannot drift from the models.
// refused says the core refused the request (400, 411, 413, 431, 505); a
// refusal ends the connection. A body in the reply never aliases head.
func (s *Site) Answer(head []byte) (r Reply, refused bool) {
	_, r, ok := s.answer(head)
	if len(head) > 0 && len(r.Body) > 0 && &r.Body[0] == &head[0] {
		r.Body = bytes.Clone(r.Body)
	}
	return r, !ok
}

// answer parses and checks a head and routes it; ok is false when the
// reply is a refusal.
func (s *Site) answer(head []byte) (req request, r Reply, ok bool) {
	if len(head) > MaxHeadBytes {
		return req, ErrorReply(431, "request head over 8 KiB"), false
	}
	req, status, why := parseHead(head)
	switch {
	case status != 0:
		return req, ErrorReply(status, why), false
	case req.chunked:
		return req, ErrorReply(411, "chunked request bodies are not accepted; send Content-Length"), false
	case req.length > MaxBodyBytes:
		return req, ErrorReply(413, "request body over 1 MiB"), false
	}
	return req, s.route(req.method, req.target, head), true
}

// ErrorResponse is the whole response the core sends to refuse a client,
// Connection: close included, for a server that turns a connection away
// before reading any request (out of threads, say).
func ErrorResponse(status int, why string, now time.Time) []byte {
	c := Session{site: &Site{obs: nopObserver{}}}
	c.respond(ErrorReply(status, why), false, kaClose, now)
	return c.out
}

// fail answers a request the parser could not take at all.
func (c *Session) fail(status int, why string, now time.Time) {
	c.site.obs.Request()
	c.r = c.w // nothing after an unparseable head can be trusted
	c.respondError(status, why, now)
}

func (c *Session) respondError(status int, why string, now time.Time) {
	c.respond(ErrorReply(status, why), false, kaClose, now)
}

// respond appends one response to the output.
func (c *Session) respond(r Reply, head bool, ka keepAlive, now time.Time) {
	c.site.obs.Response(r.Status)
	o := c.out
	o = append(o, "HTTP/1.1 "...)
	o = strconv.AppendInt(o, int64(r.Status), 10)
	o = append(o, ' ')
	o = append(o, StatusText(r.Status)...)
	o = append(o, "\r\nDate: "...)
	o = append(o, httpDate(now)...)
	o = append(o, "\r\nServer: "+ServerHeader+"\r\nContent-Type: "...)
	o = append(o, r.ContentType...)
	o = append(o, "\r\nContent-Length: "...)
	o = strconv.AppendInt(o, int64(len(r.Body)), 10)
	if r.Allow != "" {
		o = append(o, "\r\nAllow: "...)
		o = append(o, r.Allow...)
	}
	switch ka {
	case kaClose:
		o = append(o, "\r\nConnection: close"...)
		c.closing = true
	case kaExplicit:
		o = append(o, "\r\nConnection: keep-alive"...)
	}
	o = append(o, "\r\n\r\n"...)
	if !head {
		o = append(o, r.Body...)
	}
	c.out = o
}

type dateCache struct {
	sec int64
	b   []byte
}

var date atomic.Pointer[dateCache]

// httpDate formats now for the Date header, once per second for the whole
// process.
func httpDate(now time.Time) []byte {
	sec := now.Unix()
	if d := date.Load(); d != nil && d.sec == sec {
		return d.b
	}
	d := &dateCache{sec: sec, b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	date.Store(d)
	return d.b
}
