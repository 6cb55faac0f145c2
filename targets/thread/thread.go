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
	var conns sync.WaitGroup
	defer conns.Wait() // in-flight connections finish before the model returns
	for {
		fd, ok := blocking.Accept(env)
		if !ok {
			return nil
		}
		conns.Go(func() {
			// A goroutine that exits while locked takes its OS thread
			// with it: never unlocking makes this a real thread that is
			// created for the connection and dies with it, as
			// pthread_create/pthread_exit would.
			runtime.LockOSThread()
			blocking.Serve(env, fd, env.Site.NewSession())
		})
	}
}
