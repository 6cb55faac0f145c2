// Package single is the simplest server there is: one thread accepts a
// connection, serves it until it closes, then accepts the next. While it
// serves one client every other client waits in the kernel's backlog.
package single

import (
	"runtime"

	"serverlab/targets/blocking"
	"serverlab/targets/server"
)

// Model is the single-threaded blocking server.
var Model = server.Model{
	Name:        "single",
	Description: "one process, one thread: accept, serve that connection until it closes, then the next",
	Serve:       serve,
}

func serve(env *server.Env) error {
	// Pinned to one OS thread, so that it is literally one thread doing
	// every accept(2), read(2) and write(2).
	runtime.LockOSThread()
	sess := env.Site.NewSession()
	for {
		fd, ok := blocking.Accept(env)
		if !ok {
			return nil
		}
		blocking.Serve(env, fd, sess)
	}
}
