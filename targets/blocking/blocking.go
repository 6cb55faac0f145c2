// Package blocking serves one connection with blocking system calls: read
// a request, answer it, read the next, the way every thread- and
// process-per-connection server does. The models that use it differ only in
// who runs it: one process, a fork per connection, a pool, a thread each.
// Such a server holds a thread or a process for every client it serves, so
// it is also where protection against hostile clients lives: the
// connection's deadlines (Timeouts, which the goroutine model shares too)
// and a cap on threads below the system's limits (ThreadCap).
package blocking

import (
	"time"

	"golang.org/x/sys/unix"

	"serverlab/targets/httpcore"
	"serverlab/targets/server"
)

// Serve answers requests on fd until the client closes, a timeout passes,
// or a response says close; then it closes fd. The calling thread is
// blocked in read(2), write(2) or a sleep the whole time: while it serves
// this client it serves no other.
func Serve(env *server.Env, fd int, sess *httpcore.Session) {
	env.Conns.Track(fd)
	defer func() {
		env.Conns.Untrack(fd)
		unix.Close(fd)
		env.Stats.Closed()
	}()
	sess.Reset()
	c := conn{fd: fd, clock: NewTimeouts(env.IdleTimeout, env.ReadTimeout, env.WriteTimeout)}
	for {
		st := sess.Step(time.Now())
		if len(sess.Output()) > 0 {
			if !c.writeAll(sess) {
				return
			}
			c.clock.Answered(time.Now(), sess.Idle())
		}
		switch st {
		case httpcore.Close:
			return
		case httpcore.Flush:
			continue
		case httpcore.Wait:
			time.Sleep(time.Until(sess.WakeAt()))
			continue
		}
		if !c.read(sess) {
			return
		}
	}
}

// conn is a blocking socket and its clock. The kernel enforces each call's
// share of the deadlines: a read or write that waits longer than the
// socket's timeout fails with EAGAIN (or a write returns short).
type conn struct {
	fd           int
	clock        Timeouts
	rcvto, sndto time.Duration // the socket timeouts set now
}

// read reads once into the session; false if the connection is finished:
// the request's deadline passed, the peer reset, or shutdown began.
func (c *conn) read(sess *httpcore.Session) bool {
	wait, ok := c.clock.ReadWait(time.Now())
	if !ok {
		return false
	}
	c.rcvto = arm(c.fd, unix.SO_RCVTIMEO, c.rcvto, wait)
	n, err := unix.Read(c.fd, sess.Buffer())
	for err == unix.EINTR {
		n, err = unix.Read(c.fd, sess.Buffer())
	}
	switch {
	case err == unix.EAGAIN:
		if c.clock.head.IsZero() {
			return false // idle too long
		}
		// The call's share ran out; the request's deadline may not have.
		_, ok := c.clock.ReadWait(time.Now())
		return ok
	case err != nil:
		return false
	case n == 0:
		sess.EOF()
	default:
		c.clock.Read(time.Now())
		sess.Filled(n)
	}
	return true
}

// writeAll writes the session's pending output; false if the connection
// failed or the write timeout passed without progress.
func (c *conn) writeAll(sess *httpcore.Session) bool {
	c.clock.StartWrite(time.Now())
	for out := sess.Output(); len(out) > 0; out = sess.Output() {
		wait, ok := c.clock.WriteWait(time.Now())
		if !ok {
			return false
		}
		c.sndto = arm(c.fd, unix.SO_SNDTIMEO, c.sndto, wait)
		n, err := unix.Write(c.fd, out)
		if n > 0 {
			sess.Wrote(n)
			c.clock.Wrote(time.Now(), n)
		}
		if err != nil && err != unix.EINTR && err != unix.EAGAIN {
			return false
		}
	}
	return true
}

// arm sets a socket timeout to d unless it is set to d already, and
// returns what it is set to. A zero timeval means no timeout at all, so d
// is never rounded down to it.
func arm(fd, opt int, set, d time.Duration) time.Duration {
	d = max(d, time.Millisecond)
	if d == set {
		return set
	}
	tv := unix.NsecToTimeval(d.Nanoseconds())
	if unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &tv) != nil {
		return 0
	}
	return d
}
