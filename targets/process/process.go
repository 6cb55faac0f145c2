// Package process serves every connection in a process of its own, as
// inetd and the first web servers did: the parent accepts and starts a
// child (fork+exec) that inherits the connection, serves it and exits; the
// parent reaps it. Each connection costs a whole process, and a crash
// takes down only its own connection.
package process

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/targets/blocking"
	"serverlab/targets/server"
)

// Model is process-per-connection.
var Model = server.Model{
	Name:        "process",
	Description: "one OS process per connection (fork+exec), the parent reaps",
	Serve:       serve,
	Child:       child,
}

func serve(env *server.Env) error {
	children := server.NewChildren(env)
	var logged time.Time // when a failed fork was last logged
	for {
		fd, ok := blocking.Accept(env)
		if !ok {
			break
		}
		if err := handOff(env, children, fd, &logged); err != nil {
			// No child to count the close (the counters are shared).
			env.Log.Printf("fork+exec: %v; connection dropped", err)
			env.Stats.Closed()
		}
		// The child has its own copy of the connection; the parent's
		// would keep it open after the child closes it.
		unix.Close(fd)
	}
	children.Stop(env.ShutdownTimeout)
	return nil
}

// handOff starts the child that serves fd. Every live child costs the
// parent a process slot and a descriptor (its pidfd), so under load fork
// fails for want of them; like accept(2) failing with EMFILE, that passes
// only as children exit, so the parent holds the connection, backs off and
// tries again, and accepts nothing meanwhile.
func handOff(env *server.Env, children *server.Children, fd int, logged *time.Time) error {
	wait := 5 * time.Millisecond
	for {
		_, err := children.Spawn(fd)
		if err == nil || !outOfResources(err) {
			return err
		}
		if time.Since(*logged) >= time.Second {
			*logged = time.Now()
			env.Log.Printf("fork+exec: %v; retrying in %v", err, wait)
		}
		select {
		case <-time.After(wait):
		case <-env.Done:
			return err
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

func outOfResources(err error) bool {
	for _, e := range []error{unix.EMFILE, unix.ENFILE, unix.EAGAIN, unix.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// child runs in the child process, with the connection as its Listener.
func child(env *server.Env) error {
	server.LeaveGroup()
	blocking.Serve(env, env.Listener, env.Site.NewSession())
	return nil
}
