// Package threadpool serves connections with a fixed number of OS threads
// fed from a bounded queue: the number of threads no longer grows with the
// number of clients, and clients beyond what the pool and the queue hold
// wait in the kernel's backlog instead.
package threadpool

import (
	"runtime"
	"sync"

	"serverlab/targets/blocking"
	"serverlab/targets/server"
)

// Model is the thread pool.
var Model = server.Model{
	Name:        "threadpool",
	Description: "N OS threads fed from a bounded queue of accepted connections",
	// Four threads a core: each one spends most of its time blocked in
	// read(2) on a slow or idle client, so a pool of one a core would
	// leave the cores idle; much more and it is thread-per-connection
	// again.
	DefaultWorkers: func() int { return 4 * runtime.NumCPU() },
	Serve:          serve,
}

func serve(env *server.Env) error {
	// As many queued connections as threads: when all threads are busy
	// and the queue is full, the accepter blocks on the send below and
	// stops calling accept(2).
	queue := make(chan int, env.Workers)
	var workers sync.WaitGroup
	for range env.Workers {
		workers.Go(func() {
			runtime.LockOSThread() // a real thread, for the pool's lifetime
			sess := env.Site.NewSession()
			for fd := range queue {
				blocking.Serve(env, fd, sess)
			}
		})
	}
	for {
		fd, ok := blocking.Accept(env)
		if !ok {
			break
		}
		queue <- fd
	}
	// Queued connections are still served (the runtime has shut their
	// reading side, so each gets only what it already sent).
	close(queue)
	workers.Wait()
	return nil
}
