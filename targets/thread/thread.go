// Package thread gives every connection an OS thread of its own, the
// classic thread-per-connection server: simple blocking code, and a cost of
// one kernel thread (stack, scheduling) per client, idle ones included.
package thread

import (
	"runtime"
	"sync"

	"serverlab/targets/blocking"
	"serverlab/targets/server"
)

// Model is thread-per-connection.
var Model = server.Model{
	Name:        "thread",
	Description: "one OS thread per connection, blocking syscalls",
	Serve:       serve,
}

func serve(env *server.Env) error {
	// A C server's pthread_create fails with EAGAIN past the system's
	// thread limits and it refuses that one client; Go's runtime would
	// end the process instead. The cap keeps it the C server's way.
	threads := blocking.NewThreadCap(env)
	var conns sync.WaitGroup
	defer conns.Wait() // in-flight connections finish before the model returns
	for {
		fd, ok := blocking.Accept(env)
		if !ok {
			return nil
		}
		if !threads.Take() {
			threads.Refuse(fd)
			continue
		}
		conns.Go(func() {
			defer threads.Give()
			// A goroutine that exits while locked takes its OS thread
			// with it: never unlocking makes this a real thread that is
			// created for the connection and dies with it, as
			// pthread_create/pthread_exit would.
			runtime.LockOSThread()
			blocking.Serve(env, fd, env.Site.NewSession())
		})
	}
}
