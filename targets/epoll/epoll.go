// Package epoll serves every connection from one thread with one epoll(7)
// instance: the kernel keeps the interest set, and epoll_wait returns only
// the sockets that are ready, so a turn of the loop costs what the ready
// sockets cost, not what all of them cost (compare select and poll).
//
// The interest set is level-triggered. Edge-triggered epoll saves the
// epoll_ctl calls that switch a socket between read and write interest,
// but then every connection must be read and written until EAGAIN on every
// event, or it is never reported again. Level-triggered lets a connection
// stop after its share of work (nonblock bounds it) and be reported again
// on the next turn, which keeps a pipelining client from starving the
// others; and in the common keep-alive case (read a request, write the
// whole response) the interest never changes, so there are no epoll_ctl
// calls to save.
package epoll

import (
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/targets/nonblock"
	"serverlab/targets/server"
)

var Model = server.Model{
	Name:        "epoll",
	Description: "one thread, one epoll event loop",
	Serve:       serve,
}

func serve(env *server.Env) error {
	// One loop on one OS thread, for as long as it runs.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return Run(env, env.Listener)
}

// maxEvents is how many ready sockets one epoll_wait returns at most.
const maxEvents = 512

// Run serves connections accepted on the listener lfd with one epoll loop
// on the calling thread, until shutdown has drained them.
func Run(env *server.Env, lfd int) error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	defer unix.Close(ep)

	opt := nonblock.OptionsFor(env, lfd)
	opt.Watch = func(c *nonblock.Conn, old nonblock.Want) error {
		switch {
		case c.Want() == nonblock.WantClose:
			return nil // close(2) takes it out of the interest set
		case old == 0:
			return ctl(ep, unix.EPOLL_CTL_ADD, c.FD(), interest(c.Want()))
		default:
			return ctl(ep, unix.EPOLL_CTL_MOD, c.FD(), interest(c.Want()))
		}
	}
	loop, err := nonblock.NewLoop(opt)
	if err != nil {
		return err
	}
	defer loop.CloseAll()
	if err := ctl(ep, unix.EPOLL_CTL_ADD, lfd, unix.EPOLLIN); err != nil {
		return err
	}
	if err := ctl(ep, unix.EPOLL_CTL_ADD, env.ShutdownFD, unix.EPOLLIN); err != nil {
		return err
	}
	listening := true

	events := make([]unix.EpollEvent, maxEvents)
	now := time.Now()
	for !loop.Finished(now) {
		n, err := unix.EpollWait(ep, events, loop.TimeoutMillis(now))
		if err != nil && err != unix.EINTR {
			return os.NewSyscallError("epoll_wait", err)
		}
		now = time.Now()
		for _, ev := range events[:max(n, 0)] {
			switch fd := int(ev.Fd); fd {
			case lfd:
				loop.Accept(now)
			case env.ShutdownFD:
				// The eventfd stays readable (other loops watch it too), so
				// stop watching it rather than be woken by it forever.
				ctl(ep, unix.EPOLL_CTL_DEL, fd, 0)
				loop.Shutdown(now)
			default:
				if c := loop.Conn(fd); c != nil {
					loop.Handle(c, now, ready(ev.Events))
				}
			}
		}
		loop.Expire(now)
		// Stop watching the listener while accept is backing off (or for
		// good once draining), else it would be reported ready every turn.
		if on := loop.Listening(now); on != listening {
			var ev uint32
			if on {
				ev = unix.EPOLLIN
			}
			if err := ctl(ep, unix.EPOLL_CTL_MOD, lfd, ev); err != nil {
				return err
			}
			listening = on
		}
	}
	return nil
}

// interest is the epoll event mask for what a connection waits for. A
// connection waiting for its timer stays registered with no events, so that
// going back to reading is a MOD, not a DEL and an ADD.
func interest(w nonblock.Want) uint32 {
	switch w {
	case nonblock.WantRead:
		return unix.EPOLLIN
	case nonblock.WantWrite:
		return unix.EPOLLOUT
	}
	return 0
}

func ready(events uint32) nonblock.Ready {
	var r nonblock.Ready
	if events&unix.EPOLLIN != 0 {
		r |= nonblock.Readable
	}
	if events&unix.EPOLLOUT != 0 {
		r |= nonblock.Writable
	}
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		r |= nonblock.Hangup
	}
	return r
}

func ctl(ep, op, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(ep, op, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}
