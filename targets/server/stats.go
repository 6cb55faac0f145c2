package server

import (
	"errors"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The counters live in one page of shared memory (a memfd), so that a
// process-based model's children count into the same totals as the parent
// without any messages: every counter is an atomic add on a word all the
// processes map.
const (
	slotAccepted = iota
	slotClosed
	slotRequests
	slotShed                           // connections reset at once by --on-emfile shed
	slotOutOfFDsAt                     // unix nanoseconds of the last accept that failed with EMFILE or ENFILE
	slotRecoveredAt                    // unix nanoseconds of the first accept that succeeded after it
	slotStatus                         // 600 slots: responses by status code
	slotErrno       = slotStatus + 600 // 256 slots: accept errors by errno
	numSlots        = slotErrno + 256
	statsBytes      = numSlots * 8
)

// maxBackoff caps the pause after accept fails for want of descriptors:
// long enough not to spin, short enough to recover soon after they free up.
const maxBackoff = 200 * time.Millisecond

// Stats counts connections, requests, responses and accept errors of a
// target and its children. It is the Site's Observer.
type Stats struct {
	words []uint64 // in shared memory
	fd    int      // the memfd behind words, passed to children

	mu       sync.Mutex // guards the accept back-off and its log
	backoff  time.Duration
	lastLog  time.Time
	unlogged map[unix.Errno]int
	log      *log.Logger

	childMu  sync.Mutex
	children map[int]struct{}

	// spare is --on-emfile shed's placeholder; nil in wait mode.
	spare *spare
}

// newStats maps the counters: a fresh memfd for a parent, or the one a
// parent passed down (fd >= 0) for a child.
func newStats(fd int, lg *log.Logger) (*Stats, error) {
	if fd < 0 {
		var err error
		fd, err = unix.MemfdCreate("serverlab-stats", unix.MFD_CLOEXEC)
		if err != nil {
			return nil, os.NewSyscallError("memfd_create", err)
		}
		if err := unix.Ftruncate(fd, statsBytes); err != nil {
			unix.Close(fd)
			return nil, os.NewSyscallError("ftruncate", err)
		}
	}
	mem, err := unix.Mmap(fd, 0, statsBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), numSlots)
	return &Stats{words: words, fd: fd, log: lg, unlogged: map[unix.Errno]int{}, children: map[int]struct{}{}}, nil
}

func (s *Stats) add(slot int) { atomic.AddUint64(&s.words[slot], 1) }
func (s *Stats) get(slot int) uint64 {
	return atomic.LoadUint64(&s.words[slot])
}

// Accepted counts one accepted connection.
func (s *Stats) Accepted() { s.add(slotAccepted) }

// Closed counts one closed connection.
func (s *Stats) Closed() { s.add(slotClosed) }

// Request counts one request (httpcore.Observer).
func (s *Stats) Request() { s.add(slotRequests) }

// Response counts one response by status (httpcore.Observer).
func (s *Stats) Response(status int) {
	if status < 100 || status > 599 {
		status = 0
	}
	s.add(slotStatus + status)
}

// AcceptError counts a failed accept by errno, logs it at most once a
// second, and returns how long to back off before accepting again. Running
// out of descriptors or memory will not pass by retrying at once: retrying
// in a tight loop only burns the core the open connections need, so the
// back-off grows while the errors last.
func (s *Stats) AcceptError(err error) time.Duration {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		errno = unix.EIO
	}
	switch errno {
	case unix.EAGAIN, unix.EINTR:
		return 0 // nothing to accept, or a signal: not errors
	}
	if int(errno) < 256 {
		s.add(slotErrno + int(errno))
	}
	if errno == unix.EMFILE || errno == unix.ENFILE {
		s.outOfFDs()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var wait time.Duration
	switch errno {
	case unix.ECONNABORTED, unix.EPROTO, unix.EPERM:
		// The client gave up before we accepted: try the next one.
	case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		switch {
		case s.backoff == 0:
			s.backoff = 5 * time.Millisecond
		case s.backoff < maxBackoff:
			s.backoff = min(2*s.backoff, maxBackoff)
		}
		wait = s.backoff
	default:
		wait = 10 * time.Millisecond
	}
	s.unlogged[errno]++
	if now := time.Now(); now.Sub(s.lastLog) >= time.Second {
		s.lastLog = now
		for e, n := range s.unlogged {
			then := fmt.Sprintf("backing off %v", wait)
			if s.spare != nil && (e == unix.EMFILE || e == unix.ENFILE) {
				then = "resetting the clients that wait (--on-emfile shed)"
			}
			s.log.Printf("accept: %v (%s), %d times since the last report; %s", e, unix.ErrnoName(e), n, then)
			delete(s.unlogged, e)
		}
	}
	return wait
}

// outOfFDs marks the moment a descriptor was wanted and none was free;
// recovered the first success after it. /healthz reads them (OutOfFDs).
func (s *Stats) outOfFDs() {
	atomic.StoreUint64(&s.words[slotOutOfFDsAt], uint64(time.Now().UnixNano()))
}

func (s *Stats) recovered() {
	if atomic.LoadUint64(&s.words[slotOutOfFDsAt]) > atomic.LoadUint64(&s.words[slotRecoveredAt]) {
		atomic.StoreUint64(&s.words[slotRecoveredAt], uint64(time.Now().UnixNano()))
	}
}

// AcceptOK ends an accept back-off.
func (s *Stats) AcceptOK() {
	s.recovered()
	s.mu.Lock()
	s.backoff = 0
	s.mu.Unlock()
}

// Shed is --on-emfile shed, for an accept on lfd that failed with err (and
// was counted with AcceptError): when err says the descriptors ran out, it
// resets the clients waiting on lfd with the spare descriptor and reports
// true, and the caller accepts again without backing off (an event loop
// when the listener is next readable). It reports false in wait mode, for
// other errors, and when the spare's slot was lost: then the caller backs
// off.
func (s *Stats) Shed(lfd int, err error) bool {
	if s.spare == nil || !outOfFDs(err) {
		return false
	}
	return s.spare.shed(lfd, func() { s.add(slotShed) })
}

// AcceptFailed is what an accept path that blocks (the blocking models'
// accept(2), the Go listeners) does when accept on lfd fails with err: it
// counts the error, then sheds the waiting clients and waits up to the
// back-off for the next one (--on-emfile shed), or sleeps the back-off
// (wait). It returns false if stop was closed meanwhile.
func (s *Stats) AcceptFailed(lfd int, err error, stop <-chan struct{}) bool {
	wait := s.AcceptError(err)
	shed := s.Shed(lfd, err)
	if wait <= 0 {
		return !closed(stop)
	}
	if !shed {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-stop:
			return false
		}
	}
	// Wake for the next client as soon as it arrives, to reset it at once;
	// the back-off still bounds the wait, so that descriptors freed
	// meanwhile are noticed by the next accept.
	for end := time.Now().Add(wait); time.Now().Before(end); {
		if readable(lfd, min(time.Until(end), 50*time.Millisecond)) || closed(stop) {
			break
		}
	}
	return !closed(stop)
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// OutOfFDs reports whether the target is out of descriptors now: an
// accept failed with EMFILE or ENFILE in the last two seconds and none
// succeeded since. The accept paths retry at least every maxBackoff while
// clients wait, so a target that stays out keeps the mark fresh.
func (s *Stats) OutOfFDs() bool {
	at := atomic.LoadUint64(&s.words[slotOutOfFDsAt])
	return at > atomic.LoadUint64(&s.words[slotRecoveredAt]) &&
		time.Since(time.Unix(0, int64(at))) < 2*time.Second
}

// TrackChild adds a child process to the resource totals (descriptors,
// threads, memory); UntrackChild removes it once reaped.
func (s *Stats) TrackChild(pid int) {
	s.childMu.Lock()
	s.children[pid] = struct{}{}
	s.childMu.Unlock()
}

// UntrackChild: see TrackChild.
func (s *Stats) UntrackChild(pid int) {
	s.childMu.Lock()
	delete(s.children, pid)
	s.childMu.Unlock()
}

func (s *Stats) childPIDs() []int {
	s.childMu.Lock()
	defer s.childMu.Unlock()
	pids := make([]int, 0, len(s.children))
	for pid := range s.children {
		pids = append(pids, pid)
	}
	return pids
}

// Snapshot is a copy of the counters.
type Snapshot struct {
	Accepted, Closed, Requests uint64
	Shed                       uint64                // reset at once by --on-emfile shed
	Responses                  map[int]uint64        // by status; 0: out of range
	AcceptErrors               map[unix.Errno]uint64 // by errno
}

// Snapshot reads the counters.
func (s *Stats) Snapshot() Snapshot {
	sn := Snapshot{
		Accepted:     s.get(slotAccepted),
		Closed:       s.get(slotClosed),
		Requests:     s.get(slotRequests),
		Shed:         s.get(slotShed),
		Responses:    map[int]uint64{},
		AcceptErrors: map[unix.Errno]uint64{},
	}
	for st := 0; st < 600; st++ {
		if n := s.get(slotStatus + st); n > 0 {
			sn.Responses[st] = n
		}
	}
	for e := 0; e < 256; e++ {
		if n := s.get(slotErrno + e); n > 0 {
			sn.AcceptErrors[unix.Errno(e)] = n
		}
	}
	return sn
}
