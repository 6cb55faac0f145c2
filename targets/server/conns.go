package server

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Conns is the set of connections a blocking model is serving. A thread
// blocked in read(2) cannot see a channel close; at shutdown the runtime
// shuts down the reading side of each connection instead, so those reads
// return end-of-file once in-flight responses are written.
type Conns struct {
	mu       sync.Mutex
	fds      map[int]struct{}
	draining bool
}

func newConns() *Conns { return &Conns{fds: map[int]struct{}{}} }

// Track adds a connection. One accepted after shutdown began is shut down
// at once: its reads see end-of-file.
func (c *Conns) Track(fd int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fds[fd] = struct{}{}
	if c.draining {
		unix.Shutdown(fd, unix.SHUT_RD)
	}
}

// Untrack removes a connection; call it before closing the descriptor, so
// that shutdown never touches a number the kernel has given to another.
func (c *Conns) Untrack(fd int) {
	c.mu.Lock()
	delete(c.fds, fd)
	c.mu.Unlock()
}

// Len is the number of connections tracked.
func (c *Conns) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.fds)
}

func (c *Conns) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	for fd := range c.fds {
		unix.Shutdown(fd, unix.SHUT_RD)
	}
}
