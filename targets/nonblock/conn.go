// Package nonblock is what every event-loop model shares that is not the
// loop itself: a connection on a non-blocking socket that reads, answers and
// writes as far as the socket allows and then says what it waits for next;
// the accept step with its back-off; timeouts and delayed responses on one
// timer heap; and the draining shutdown. A model's own file is left with the
// one thing that differs between them: how it learns which sockets are ready.
package nonblock

import (
	"time"

	"golang.org/x/sys/unix"

	"serverlab/targets/httpcore"
)

// Want is what a connection waits for before it can make progress again.
type Want uint8

const (
	// WantRead: the socket becoming readable (a request, more of one, or
	// the peer's close while lingering).
	WantRead Want = iota + 1
	// WantWrite: the socket becoming writable; response bytes are pending.
	WantWrite
	// WantTimer: nothing from the socket; a delayed response is due at the
	// connection's deadline.
	WantTimer
	// WantClose: the connection is finished.
	WantClose
)

func (w Want) String() string {
	switch w {
	case WantRead:
		return "read"
	case WantWrite:
		return "write"
	case WantTimer:
		return "timer"
	case WantClose:
		return "close"
	}
	return "none"
}

// Ready is what the readiness mechanism said about a socket.
type Ready uint8

const (
	Readable Ready = 1 << iota
	Writable
	// Hangup: an error or a reset; nothing more can be read or written.
	Hangup
)

// maxRounds bounds the reads and writes one connection gets per turn, so
// that a client pipelining without pause cannot starve the others. Every
// readiness mechanism here is level-triggered, so a connection that stops
// early is simply reported ready again.
const maxRounds = 16

// Conn is one accepted connection on a non-blocking socket.
type Conn struct {
	fd   int
	sess *httpcore.Session
	step httpcore.Step // what the Session said last
	want Want

	eof       bool // the peer closed its writing side
	lingering bool // our side is shut; reading to the peer's close

	// due is when the loop must act without the socket: wake a delayed
	// response (WantTimer) or give up on the connection. Zero: never.
	due time.Time
	// reqDue is the read deadline of the request being read; it is set
	// when the request's first bytes arrive and not moved by later reads,
	// so that a client trickling bytes cannot hold the connection forever.
	reqDue time.Time
	// idleDue is the idle deadline, set when the connection falls idle and
	// cleared by any traffic: being asked again (busy polling asks all the
	// time) must not postpone it.
	idleDue time.Time

	at    time.Time // where Timers filed it (at <= due, see Timers)
	slot  int       // index in Timers, -1 when not filed
	index int       // index in Loop.conns
}

// FD is the connection's socket.
func (c *Conn) FD() int { return c.fd }

// Want is what the connection waits for now.
func (c *Conn) Want() Want { return c.want }

// Limits are the timeouts a connection is held to; zero means none.
type Limits struct {
	Idle  time.Duration // between requests
	Read  time.Duration // from a request's first byte to its last
	Write time.Duration // without any write progress
	// Linger is how long a connection closed by us keeps reading (and
	// discarding) after its response, so that request bytes still arriving
	// do not make the kernel reset the connection and destroy the response
	// before the client has read it. Zero closes at once.
	Linger time.Duration
}

// run does everything the socket allows now: write pending output, answer
// buffered requests, read more. readable says the socket may have input;
// after a short read it is taken to have none, which saves the read that
// would only return EAGAIN. It returns what the connection waits for next
// and leaves its deadline in c.due.
func (c *Conn) run(now time.Time, readable bool, lim *Limits) Want {
	wrote := false
	for range maxRounds {
		if out := c.sess.Output(); len(out) > 0 {
			n, err := unix.Write(c.fd, out)
			if n > 0 {
				c.sess.Wrote(n)
				wrote = true
				c.idleDue = time.Time{}
			}
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN || err == nil && n < len(out):
				return c.blocked(now, wrote, lim)
			case err != nil:
				return WantClose
			}
		}
		if c.lingering {
			if !readable {
				return WantRead
			}
			// Session's buffer is scratch now: read into it, never Filled.
			n, err := unix.Read(c.fd, c.sess.Buffer())
			switch {
			case err == unix.EAGAIN:
				return WantRead
			case err == unix.EINTR:
				continue
			case err != nil || n == 0:
				return WantClose
			}
			continue
		}
		switch c.step {
		case httpcore.Close:
			if c.eof || lim.Linger <= 0 {
				return WantClose
			}
			if unix.Shutdown(c.fd, unix.SHUT_WR) != nil {
				return WantClose
			}
			c.lingering = true
			c.due = now.Add(lim.Linger)
			readable = true
			continue
		case httpcore.Flush:
			c.step = c.sess.Step(now)
			continue
		case httpcore.Wait:
			if at := c.sess.WakeAt(); now.Before(at) {
				c.due = at
				c.reqDue = time.Time{}
				return WantTimer
			}
			c.step = c.sess.Step(now)
			continue
		}
		// NeedInput.
		if !readable {
			return c.reading(now, lim)
		}
		buf := c.sess.Buffer()
		n, err := unix.Read(c.fd, buf)
		switch {
		case err == unix.EAGAIN:
			return c.reading(now, lim)
		case err == unix.EINTR:
			continue
		case err != nil:
			return WantClose
		case n == 0:
			c.eof = true
			c.sess.EOF()
			readable = false
		default:
			c.sess.Filled(n)
			readable = n == len(buf)
			c.idleDue = time.Time{}
		}
		c.step = c.sess.Step(now)
	}
	// Out of rounds with work left: the socket is still ready, so the loop
	// will come back to it after serving the others.
	if len(c.sess.Output()) > 0 {
		return c.blocked(now, wrote, lim)
	}
	return c.reading(now, lim)
}

// blocked: output is pending and the socket's send buffer is full. The
// write timeout counts from the last progress.
func (c *Conn) blocked(now time.Time, wrote bool, lim *Limits) Want {
	c.reqDue = time.Time{}
	if wrote || c.want != WantWrite {
		c.due = after(now, lim.Write)
	}
	return WantWrite
}

// reading: waiting for input, under the idle timeout between requests and
// the read timeout within one.
func (c *Conn) reading(now time.Time, lim *Limits) Want {
	switch {
	case c.lingering:
		// c.due is the end of lingering, set when it began.
	case c.sess.Idle():
		c.reqDue = time.Time{}
		if c.idleDue.IsZero() {
			c.idleDue = after(now, lim.Idle)
		}
		c.due = c.idleDue
	default:
		if c.reqDue.IsZero() {
			c.reqDue = after(now, lim.Read)
		}
		c.due = c.reqDue
	}
	return WantRead
}

func after(now time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return now.Add(d)
}
