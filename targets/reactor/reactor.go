// Package reactor runs one epoll event loop per core, each on its own OS
// thread with its own listening socket on the same address: with
// SO_REUSEPORT the kernel spreads new connections over the listeners, so
// the loops share nothing, neither a lock nor an accept queue, and a
// connection stays on the loop that accepted it.
package reactor

import (
	"errors"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"serverlab/targets/epoll"
	"serverlab/targets/server"
)

var Model = server.Model{
	Name:           "reactor",
	Description:    "one epoll loop per core, each with its own SO_REUSEPORT listener",
	DefaultWorkers: runtime.NumCPU,
	Serve:          serve,
}

func serve(env *server.Env) error {
	// Loop 0 uses the runtime's listener; every other loop opens its own.
	listeners := []int{env.Listener}
	for len(listeners) < max(env.Workers, 1) {
		fd, _, err := server.ListenShared(env.Addr)
		if err != nil {
			for _, fd := range listeners[1:] {
				unix.Close(fd)
			}
			return err
		}
		listeners = append(listeners, fd)
	}

	errs := make([]error, len(listeners))
	var wg sync.WaitGroup
	for i, lfd := range listeners {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if err := epoll.Run(env, lfd); err != nil {
				env.Log.Printf("loop %d stopped: %v", i, err)
				errs[i] = err
			}
			if i > 0 {
				// Closed as soon as its loop stops, so that the kernel sends
				// no more connections to a listener nobody accepts from.
				unix.Close(lfd)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
