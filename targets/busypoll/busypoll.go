// Package busypoll serves every connection from one thread without any
// readiness notification: the sockets are non-blocking, and the loop simply
// tries everything, over and over: an accept, then a read or write on every
// connection, each of which mostly fails with EAGAIN. It answers as fast as
// anything can, since nothing ever sleeps, and for the same reason it burns
// a whole core at 100% even with no connections at all; every pass costs
// system calls for every connection, ready or not.
package busypoll

import (
	"runtime"
	"time"

	"serverlab/targets/nonblock"
	"serverlab/targets/server"
)

var Model = server.Model{
	Name:        "busypoll",
	Description: "one thread, non-blocking sockets scanned in a loop, no readiness notification",
	Serve:       serve,
}

func serve(env *server.Env) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	loop, err := nonblock.NewLoop(nonblock.OptionsFor(env, env.Listener))
	if err != nil {
		return err
	}
	defer loop.CloseAll()

	now := time.Now()
	for !loop.Finished(now) {
		now = time.Now()
		select {
		case <-env.Done:
			loop.Shutdown(now)
		default:
		}
		loop.Accept(now)
		// Try every connection as if it were ready. Backwards, because
		// closing one moves the last (already tried) into its place.
		conns := loop.Conns()
		for i := len(conns) - 1; i >= 0; i-- {
			loop.Handle(conns[i], now, nonblock.Readable|nonblock.Writable)
		}
		loop.Expire(now)
	}
	return nil
}
