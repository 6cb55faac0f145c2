// Package selectmodel serves every connection from one thread with
// select(2): each turn the loop writes every socket it waits on into bit
// sets, the kernel scans them all, and the loop scans them all again to see
// which are ready. A turn costs what all the connections cost, ready or not,
// and a socket whose descriptor is FD_SETSIZE (1024) or more cannot be put
// in a set at all: such connections are closed, with a logged reason.
package selectmodel

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/targets/nonblock"
	"serverlab/targets/server"
)

var Model = server.Model{
	Name:        "select",
	Description: "one thread, non-blocking sockets, select(2)",
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
	if lfd >= unix.FD_SETSIZE || sfd >= unix.FD_SETSIZE {
		return fmt.Errorf("select: listener (fd %d) or shutdown eventfd (fd %d) is past FD_SETSIZE (%d)", lfd, sfd, unix.FD_SETSIZE)
	}
	opt := nonblock.OptionsFor(env, lfd)
	opt.FDLimit = unix.FD_SETSIZE
	opt.FDLimitWhy = fmt.Sprintf("select(2) cannot watch a descriptor >= FD_SETSIZE (%d)", unix.FD_SETSIZE)
	loop, err := nonblock.NewLoop(opt)
	if err != nil {
		return err
	}
	defer loop.CloseAll()

	var rset, wset unix.FdSet
	var ready []readyConn
	now := time.Now()
	for !loop.Finished(now) {
		// Every turn, every socket goes into the sets again.
		rset.Zero()
		wset.Zero()
		nfd := 0
		add := func(set *unix.FdSet, fd int) {
			set.Set(fd)
			nfd = max(nfd, fd+1)
		}
		listening := loop.Listening(now)
		if listening {
			add(&rset, lfd)
		}
		if !loop.Draining() {
			add(&rset, sfd)
		}
		for _, c := range loop.Conns() {
			switch c.Want() {
			case nonblock.WantRead:
				add(&rset, c.FD())
			case nonblock.WantWrite:
				add(&wset, c.FD())
			}
		}

		var timeout *unix.Timeval
		if d := loop.Timeout(now); d >= 0 {
			tv := unix.NsecToTimeval(int64(d))
			timeout = &tv
		}
		_, err := unix.Select(nfd, &rset, &wset, nil, timeout)
		if err == unix.EINTR {
			now = time.Now()
			continue // the sets are not to be trusted: build them again
		}
		if err != nil {
			return os.NewSyscallError("select", err)
		}
		now = time.Now()

		// And every socket is tested again to find the ready ones.
		ready = ready[:0]
		for _, c := range loop.Conns() {
			var r nonblock.Ready
			if rset.IsSet(c.FD()) {
				r |= nonblock.Readable
			}
			if wset.IsSet(c.FD()) {
				r |= nonblock.Writable
			}
			if r != 0 {
				ready = append(ready, readyConn{c, r})
			}
		}
		if !loop.Draining() && rset.IsSet(sfd) {
			loop.Shutdown(now)
		}
		for _, rc := range ready {
			loop.Handle(rc.c, now, rc.r)
		}
		if listening && rset.IsSet(lfd) {
			loop.Accept(now)
		}
		loop.Expire(now)
	}
	return nil
}
