// Package prefork starts a fixed number of processes before any client
// arrives, as Apache's prefork did: each inherits the listening socket and
// runs the single model's loop (accept, serve that connection, accept the
// next), and the kernel hands each new connection to one of the processes
// blocked in accept(2). The parent only keeps the pool full.
package prefork

import (
	"runtime"
	"sync"
	"time"

	"serverlab/targets/blocking"
	"serverlab/targets/server"
)

// Model is the prefork pool.
var Model = server.Model{
	Name:        "prefork",
	Description: "a fixed pool of N processes sharing the listening socket, one connection each at a time",
	// Four processes a core, as threadpool has four threads: a process
	// blocked on a slow client leaves its core to the others.
	DefaultWorkers: func() int { return 4 * runtime.NumCPU() },
	Serve:          serve,
	Child:          child,
}

// Restarts of a process that keeps dying are spaced from minRestart,
// doubling up to maxRestart, so that a crash at start-up does not become a
// fork loop; one that lived healthyAfter is restarted at once.
const (
	minRestart   = 100 * time.Millisecond
	maxRestart   = 10 * time.Second
	healthyAfter = 10 * time.Second
)

func serve(env *server.Env) error {
	children := server.NewChildren(env)
	var slots sync.WaitGroup
	for slot := range env.Workers {
		slots.Go(func() { keep(env, children, slot) })
	}
	<-env.Done
	children.Stop(env.ShutdownTimeout)
	slots.Wait()
	return nil
}

// keep runs one process of the pool, starting a new one when it dies
// before shutdown.
func keep(env *server.Env, children *server.Children, slot int) {
	var pause time.Duration
	for {
		started := time.Now()
		exited, err := children.Spawn(env.Listener)
		if err == nil {
			err = <-exited
		}
		select {
		case <-env.Done:
			return // stopped on purpose
		default:
		}
		switch {
		case time.Since(started) >= healthyAfter:
			pause = 0
		case pause == 0:
			pause = minRestart
		default:
			pause = min(2*pause, maxRestart)
		}
		env.Log.Printf("worker %d ended (%v); starting another in %v", slot, describe(err), pause)
		select {
		case <-time.After(pause):
		case <-env.Done:
			return
		}
	}
}

func describe(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// child is one process of the pool: the single model on the shared socket.
func child(env *server.Env) error {
	server.LeaveGroup()
	sess := env.Site.NewSession()
	for {
		fd, ok := blocking.Accept(env)
		if !ok {
			return nil
		}
		blocking.Serve(env, fd, sess)
	}
}
