// Package blocking serves one connection with blocking system calls: read
// a request, answer it, read the next, the way every thread- and
// process-per-connection server does. The models that use it differ only in
// who runs it: one process, a fork per connection, a pool, a thread each.
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
	// The kernel enforces the timeouts: a read or write that waits longer
	// fails with EAGAIN.
	setTimeout(fd, unix.SO_SNDTIMEO, env.WriteTimeout)
	var armed time.Duration
	for {
		st := sess.Step(time.Now())
		if !writeAll(fd, sess) {
			return
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
		timeout := env.ReadTimeout
		if sess.Idle() {
			timeout = env.IdleTimeout
		}
		if timeout != armed {
			setTimeout(fd, unix.SO_RCVTIMEO, timeout)
			armed = timeout
		}
		n, err := unix.Read(fd, sess.Buffer())
		for err == unix.EINTR {
			n, err = unix.Read(fd, sess.Buffer())
		}
		switch {
		case err != nil:
			return // timed out (EAGAIN), reset, or shut down
		case n == 0:
			sess.EOF()
		default:
			sess.Filled(n)
		}
	}
}

// writeAll writes the session's pending output; false if the connection
// failed or the write timed out.
func writeAll(fd int, sess *httpcore.Session) bool {
	for out := sess.Output(); len(out) > 0; out = sess.Output() {
		n, err := unix.Write(fd, out)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false
		}
		sess.Wrote(n)
	}
	return true
}

func setTimeout(fd, opt int, d time.Duration) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &tv)
}
