// Package poll serves every connection from one thread with poll(2): each
// turn the loop hands the kernel an array with one entry per socket, the
// kernel checks them all, and the loop walks the array again to find the
// ready ones. Unlike select there is no FD_SETSIZE ceiling, but a turn still
// costs what all the connections cost, ready or not.
package poll

import (
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/targets/nonblock"
	"serverlab/targets/server"
)

var Model = server.Model{
	Name:        "poll",
	Description: "one thread, poll(2)",
	Serve:       serve,
}

type readyConn struct {
	c *nonblock.Conn
	r nonblock.Ready
}

func serve(env *server.Env) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	lfd, sfd := env.Listener, env.ShutdownFD
	loop, err := nonblock.NewLoop(nonblock.OptionsFor(env, lfd))
	if err != nil {
		return err
	}
	defer loop.CloseAll()

	var fds []unix.PollFd
	var ready []readyConn
	now := time.Now()
	for !loop.Finished(now) {
		// Entry 0 is the listener, 1 the shutdown eventfd, then one per
		// connection in loop.Conns() order. A negative fd is skipped.
		conns := loop.Conns()
		fds = fds[:0]
		fds = append(fds, unix.PollFd{Fd: -1, Events: unix.POLLIN}, unix.PollFd{Fd: -1, Events: unix.POLLIN})
		if loop.Listening(now) {
			fds[0].Fd = int32(lfd)
		}
		if !loop.Draining() {
			fds[1].Fd = int32(sfd)
		}
		for _, c := range conns {
			// A connection waiting for its timer stays in the array with no
			// events: poll still reports an error or hangup on it.
			fds = append(fds, unix.PollFd{Fd: int32(c.FD()), Events: events(c.Want())})
		}

		_, err := unix.Poll(fds, loop.TimeoutMillis(now))
		if err != nil && err != unix.EINTR {
			return os.NewSyscallError("poll", err)
		}
		now = time.Now()

		// Collect the ready connections before handling any: handling
		// closes connections, which reorders loop.Conns().
		ready = ready[:0]
		for i, pfd := range fds[2:] {
			if pfd.Revents != 0 {
				ready = append(ready, readyConn{conns[i], readiness(pfd.Revents)})
			}
		}
		if fds[1].Revents != 0 {
			loop.Shutdown(now)
		}
		for _, rc := range ready {
			loop.Handle(rc.c, now, rc.r)
		}
		if fds[0].Revents != 0 {
			loop.Accept(now)
		}
		loop.Expire(now)
	}
	return nil
}

func events(w nonblock.Want) int16 {
	switch w {
	case nonblock.WantRead:
		return unix.POLLIN
	case nonblock.WantWrite:
		return unix.POLLOUT
	}
	return 0
}

func readiness(revents int16) nonblock.Ready {
	var r nonblock.Ready
	if revents&unix.POLLIN != 0 {
		r |= nonblock.Readable
	}
	if revents&unix.POLLOUT != 0 {
		r |= nonblock.Writable
	}
	if revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
		r |= nonblock.Hangup
	}
	return r
}
