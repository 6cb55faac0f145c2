package server

import (
	"errors"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Descriptors set aside while there are free ones, for when there are none.
//
// RLIMIT_NOFILE bounds the descriptor numbers a process may hold, and all
// its threads allocate from the one table: once the site's connections
// hold every slot, the admin endpoint's accept(2) and its open(2) of /proc
// fail with EMFILE exactly like the site's accept. Linux has no way to set
// slots aside for one part of a process, so the target does it itself with
// placeholders: duplicates of one /dev/null descriptor, made at start while
// slots are free. To use a slot, the owner closes a placeholder and
// allocates at once (the kernel hands out the lowest free number, and any
// free slot will do). To give it back it dup3s a placeholder over the
// descriptor it is done with, which closes that descriptor and fills its
// slot in one step: the slot is never free in between.
//
// The one window is between the close and the allocation, where another
// thread may take the slot. Then the allocation fails with EMFILE, the
// owner closes the next placeholder and tries again, and the site holds one
// descriptor more than its share until it closes one: the owner tops its
// placeholders up whenever it finds a free slot. The window is a few
// microseconds against a site that retries accept every few milliseconds
// while it is out of descriptors, so in practice the set stays whole.
//
// Keeping the target's own /proc files open and re-reading them with pread
// (see proc.go) needs no slot at all, and is done too; but the admin
// connections and the /proc files of a process model's children (one child
// per client) cannot all be open in advance, hence placeholders for them.
// A separate admin process would have a table of its own, but not the
// target's memory, and would be one more process in every model's figures.

// placeholders makes the duplicates of /dev/null that hold slots.
type placeholders struct{ null int }

func newPlaceholders() (*placeholders, error) {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/dev/null", Err: err}
	}
	return &placeholders{null: fd}, nil
}

// take holds one more slot, or fails with EMFILE when there is none.
func (p *placeholders) take() (int, error) {
	return unix.FcntlInt(uintptr(p.null), unix.F_DUPFD_CLOEXEC, 0)
}

// over closes fd and leaves a placeholder in its slot, atomically.
func (p *placeholders) over(fd int) error {
	return unix.Dup3(p.null, fd, unix.O_CLOEXEC)
}

// outOfFDs reports whether err says the descriptor table is full (EMFILE)
// or the system's file table is (ENFILE).
func outOfFDs(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)
}

// reserve is a set of placeholders kept for the admin side.
type reserve struct {
	p    *placeholders
	want int

	mu   sync.Mutex
	held []int
}

func newReserve(p *placeholders, n int) *reserve {
	r := &reserve{p: p, want: n}
	r.fill()
	return r
}

// lock gives the caller the reserve for a series of allocations with try;
// unlock tops the reserve up again.
func (r *reserve) lock() { r.mu.Lock() }

func (r *reserve) unlock() {
	r.fill()
	r.mu.Unlock()
}

func (r *reserve) fill() {
	for len(r.held) < r.want {
		fd, err := r.p.take()
		if err != nil {
			return // the site has the slot; taken back on a later fill
		}
		r.held = append(r.held, fd)
	}
}

// try calls alloc, an allocation of one descriptor, and while it fails for
// want of a slot, frees a placeholder and calls it again. The caller holds
// the lock.
func (r *reserve) try(alloc func() error) error {
	err := alloc()
	for outOfFDs(err) && len(r.held) > 0 {
		last := len(r.held) - 1
		unix.Close(r.held[last])
		r.held = r.held[:last]
		err = alloc()
	}
	return err
}

// spare is the one placeholder of --on-emfile shed: at EMFILE, an accept
// path frees it, accepts a waiting client into its slot and closes that
// connection at once with a reset, leaving the placeholder in the slot
// again. The client learns at once that the server is full, instead of
// waiting in the backlog until it gives up.
type spare struct {
	p  *placeholders
	mu sync.Mutex
	fd int // -1 while lost to the site
}

// maxShed bounds the connections reset by one call, as maxAccepts bounds
// an event loop's accepts per turn.
const maxShed = 64

func newSpare(p *placeholders) *spare {
	s := &spare{p: p, fd: -1}
	s.fd, _ = p.take()
	return s
}

// shed resets the connections waiting on lfd (up to maxShed), counting
// each with reset. It returns false only when it could not, because the
// site took the spare's slot: then the caller backs off as in wait mode.
// lfd may be a blocking socket: a connection is accepted only when poll(2)
// says one is waiting, so shed does not block unless another process takes
// that connection first (then it blocks until the next client, whom it
// resets).
func (s *spare) shed(lfd int, reset func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		fd, err := s.p.take()
		if err != nil {
			return false
		}
		s.fd = fd
	}
	for range maxShed {
		if !readable(lfd, 0) {
			break
		}
		unix.Close(s.fd)
		s.fd = -1
		c, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
		if err != nil {
			s.fd, _ = s.p.take() // the slot, free again unless the site took it
			if s.fd < 0 {
				return false
			}
			if err == unix.ECONNABORTED || err == unix.EINTR {
				continue
			}
			break
		}
		// SO_LINGER 0: closing sends a reset, not an orderly end.
		unix.SetsockoptLinger(c, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		if err := s.p.over(c); err != nil {
			unix.Close(c)
			s.fd, _ = s.p.take()
		} else {
			s.fd = c
		}
		reset()
	}
	return true
}

// readable reports whether fd is readable (a listener: a connection is
// waiting) within timeout; 0 asks without waiting.
func readable(fd int, timeout time.Duration) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, int(timeout/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}
