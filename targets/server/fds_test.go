package server

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// withMaxFDs runs fn with the soft RLIMIT_NOFILE lowered to n, and restores
// it. The test process is the one whose table fills up.
func withMaxFDs(t *testing.T, n uint64, fn func()) {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	old := lim
	lim.Cur = n
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	fn()
}

// fillTable opens /dev/null until the table is full and returns what it
// opened.
func fillTable(t *testing.T) []int {
	t.Helper()
	var fds []int
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EMFILE) {
			return fds
		}
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func TestReserveAllocatesWhenTheTableIsFull(t *testing.T) {
	p, err := newPlaceholders()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p.null)
	// The lowered limit must leave room above what the test binary holds.
	used, _ := os.ReadDir("/proc/self/fd")
	withMaxFDs(t, uint64(len(used)+16), func() {
		res := newReserve(p, 3)
		if len(res.held) != 3 {
			t.Fatalf("reserve holds %d placeholders, want 3", len(res.held))
		}
		fill := fillTable(t)
		defer closeAll(fill)
		open := func() (int, error) { return unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0) }
		if _, err := open(); !errors.Is(err, unix.EMFILE) {
			t.Fatalf("table not full: %v", err)
		}
		var got []int
		res.lock()
		for range 3 {
			if err := res.try(func() error {
				fd, err := open()
				if err == nil {
					got = append(got, fd)
				}
				return err
			}); err != nil {
				t.Fatalf("allocation %d through the reserve: %v", len(got)+1, err)
			}
		}
		if err := res.try(func() error { _, err := open(); return err }); !errors.Is(err, unix.EMFILE) {
			t.Fatalf("a fourth allocation past a reserve of 3: %v, want EMFILE", err)
		}
		res.unlock()
		// Given back, the slots return to the reserve.
		closeAll(got)
		res.lock()
		res.unlock()
		if len(res.held) != 3 {
			t.Fatalf("reserve holds %d placeholders after the slots came back, want 3", len(res.held))
		}
	})
}

func TestSpareResetsWaitingClientsAtAFullTable(t *testing.T) {
	var logs bytes.Buffer
	s, err := newStats(-1, log.New(&logs, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlaceholders()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p.null)
	lfd, addr, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if s.Shed(lfd, unix.EMFILE) {
		t.Fatal("Shed in wait mode said it shed")
	}

	used, _ := os.ReadDir("/proc/self/fd")
	withMaxFDs(t, uint64(len(used)+16), func() {
		s.spare = newSpare(p)
		if s.spare.fd < 0 {
			t.Fatal("no spare")
		}
		// Clients connect first (their sockets need slots too), then the
		// table fills up.
		var clients []net.Conn
		for range 3 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			clients = append(clients, c)
		}
		fill := fillTable(t)
		defer closeAll(fill)
		if _, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC); !errors.Is(err, unix.EMFILE) {
			t.Fatalf("accept at a full table: %v, want EMFILE", err)
		}
		if s.Shed(lfd, unix.ECONNABORTED) {
			t.Fatal("Shed acted on an error other than EMFILE")
		}
		if !s.Shed(lfd, unix.EMFILE) {
			t.Fatal("Shed did not shed")
		}
		if n := s.Snapshot().Shed; n != 3 {
			t.Fatalf("shed %d connections, want 3", n)
		}
		if s.spare.fd < 0 {
			t.Fatal("the spare was not taken back")
		}
		// Still full: the spare sits in the slot again.
		if _, err := unix.Open("/dev/null", unix.O_RDONLY, 0); !errors.Is(err, unix.EMFILE) {
			t.Fatalf("open after shedding: %v, want EMFILE", err)
		}
		for i, c := range clients {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := c.Read(make([]byte, 1))
			if !errors.Is(err, unix.ECONNRESET) {
				t.Errorf("client %d: %v, want a reset", i, err)
			}
		}
		// Nothing waits: Shed returns at once, without blocking.
		if !s.Shed(lfd, unix.EMFILE) {
			t.Fatal("Shed with no one waiting")
		}
	})
}

func TestProcReaderReadsInPlace(t *testing.T) {
	p, err := newPlaceholders()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p.null)
	r, err := newProcReader(os.Getpid(), newReserve(p, 2))
	if err != nil {
		t.Fatal(err)
	}
	u1, err := r.self()
	if err != nil {
		t.Fatal(err)
	}
	extra := make([]int, 0, 5)
	for range 5 {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, fd)
	}
	defer closeAll(extra)
	u2, err := r.self()
	if err != nil {
		t.Fatal(err)
	}
	if u2.fds != u1.fds+5 || u1.threads < 1 || u1.rss <= 0 {
		t.Fatalf("second reading %+v after the first %+v and 5 more files", u2, u1)
	}
	// A child that is gone counts as nothing and is no error; the reading
	// of a live process (here, this one) works through the reserve.
	total, cpu, err := r.children([]int{os.Getpid(), 1 << 30})
	// Reading a directory through the reserve opens it: give or take the
	// descriptors of the reading itself.
	if err != nil || total.fds < u2.fds-2 || total.fds > u2.fds+2 || total.threads < 1 || cpu <= 0 {
		t.Fatalf("children: %+v %v %v", total, cpu, err)
	}
}

// TestFailedReadingsAreLeftOut: a reading that fails must not be exported
// as zero descriptors, threads and memory.
func TestFailedReadingsAreLeftOut(t *testing.T) {
	s, err := newStats(-1, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlaceholders()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p.null)
	r, err := newProcReader(os.Getpid(), newReserve(p, 2))
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector(s, "test", r)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if n, err := gatherCount(t, reg, "serverlab_open_fds", "serverlab_os_threads", "serverlab_resident_memory_bytes", "serverlab_cpu_seconds_total"); err != nil || n != 4 {
		t.Fatalf("healthy reading: %d samples, %v", n, err)
	}
	// The kept-open files fail now, as a reading fails when /proc cannot
	// be read.
	unix.Close(r.status)
	unix.Close(r.fdDir)
	r.status, r.fdDir = 1<<20, 1<<20
	if n, err := gatherCount(t, reg, "serverlab_open_fds", "serverlab_os_threads", "serverlab_resident_memory_bytes"); err != nil || n != 0 {
		t.Fatalf("failed reading: %d samples of open_fds, os_threads, resident_memory_bytes (%v), want none", n, err)
	}
	if v := gatherValue(t, reg, "serverlab_metrics_read_errors_total"); v != 2 {
		t.Fatalf("serverlab_metrics_read_errors_total = %v, want 2 (the descriptors and status readings)", v)
	}
	// CPU comes from getrusage and still reads.
	if n, _ := gatherCount(t, reg, "serverlab_cpu_seconds_total"); n != 1 {
		t.Fatalf("cpu_seconds_total left out with the /proc files")
	}
}

// gatherCount counts the samples of the named metrics.
func gatherCount(t *testing.T, reg *prometheus.Registry, names ...string) (int, error) {
	t.Helper()
	mfs, err := reg.Gather()
	n := 0
	for _, mf := range mfs {
		for _, name := range names {
			if mf.GetName() == name {
				n += len(mf.GetMetric())
			}
		}
	}
	return n, err
}

// gatherValue is the value of the one sample of a counter.
func gatherValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}
