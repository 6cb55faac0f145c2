package server

import (
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// errStopping refuses a child once Stop has begun, so that none is started
// that Stop would not signal.
var errStopping = errors.New("stopping: no new child processes")

// Children is the child processes a process-based model (process, prefork)
// is running. Every child is waited for by a goroutine of its own the
// moment it starts, so that none is ever left a zombie, and Stop ends them
// all.
type Children struct {
	env      *Env
	mu       sync.Mutex
	live     map[*exec.Cmd]struct{}
	stopping bool
	reaped   sync.WaitGroup
}

// NewChildren is an empty set of children of env's model.
func NewChildren(env *Env) *Children {
	return &Children{env: env, live: map[*exec.Cmd]struct{}{}}
}

// Spawn starts a child (fork+exec of this binary) that gets fd as its
// Listener. The returned channel receives the child's exit once it has
// been reaped.
func (c *Children) Spawn(fd int) (<-chan error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return nil, errStopping
	}
	cmd, err := c.env.SpawnChild(fd)
	if err != nil {
		return nil, err
	}
	c.live[cmd] = struct{}{}
	exited := make(chan error, 1)
	c.reaped.Go(func() {
		err := cmd.Wait() // waitpid(2): the child is reaped here
		c.mu.Lock()
		delete(c.live, cmd)
		c.mu.Unlock()
		c.env.Stats.UntrackChild(cmd.Process.Pid)
		exited <- err
	})
	return exited, nil
}

// Len is the number of children not yet reaped.
func (c *Children) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.live)
}

// Stop refuses new children, asks every child to finish (SIGTERM: it
// writes its in-flight response and exits), kills those still running
// after grace, and returns once every child has been reaped.
func (c *Children) Stop(grace time.Duration) {
	c.signal(syscall.SIGTERM, true)
	all := make(chan struct{})
	go func() {
		c.reaped.Wait()
		close(all)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-all:
		return
	case <-t.C:
	}
	c.env.Log.Printf("%d child processes still running after %v: killing them", c.Len(), grace)
	c.signal(syscall.SIGKILL, false)
	<-all
}

func (c *Children) signal(sig syscall.Signal, stop bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if stop {
		c.stopping = true
	}
	for cmd := range c.live {
		// os.Process signals through a pidfd: a child reaped meanwhile
		// gives an error, never a stranger that reused its pid.
		cmd.Process.Signal(sig)
	}
}

// LeaveGroup moves a child into a process group of its own. A signal sent
// to the whole group, such as Ctrl-C in a terminal, then reaches only the
// parent, which stops its children itself: a child that got both would
// take the second as "stop now" and cut the response it is writing. A
// child still ends with its parent (SpawnChild asks the kernel for that).
func LeaveGroup() {
	unix.Setpgid(0, 0)
}
