package process_test

import (
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/internal/proctest"
)

func TestMain(m *testing.M) { proctest.MainAsReaper(m) }

// Every connection gets its own process, which is reaped once the
// connection closes: no zombie piles up while the server runs.
func TestChildPerConnectionReaped(t *testing.T) {
	tg := proctest.Start(t, "process")
	seen := map[int]bool{}
	conns := make([]interface{ Close() error }, 0, 4)
	for range 4 {
		c := tg.Dial()
		if st, _ := proctest.Get(t, c, "/", false); st != 200 {
			t.Fatalf("GET /: status %d", st)
		}
		conns = append(conns, c)
	}
	// Four keep-alive connections open: four live children.
	proctest.Eventually(t, "4 children for 4 open connections", func() bool {
		kids := proctest.Children(tg.Pid)
		for _, k := range kids {
			seen[k.Pid] = true
		}
		return len(kids) == 4
	})
	if n := tg.Metric("serverlab_child_processes"); n != 4 {
		t.Errorf("serverlab_child_processes = %v, want 4", n)
	}
	for _, c := range conns {
		c.Close()
	}
	// Connection: close requests: each child exits by itself.
	for range 6 {
		if st, _ := proctest.Get(t, tg.Dial(), "/style.css", true); st != 200 {
			t.Fatalf("GET /style.css: status %d", st)
		}
	}
	proctest.Eventually(t, "every child reaped once its connection closed", func() bool {
		return len(proctest.Children(tg.Pid)) == 0
	})
	if n := tg.Metric("serverlab_child_processes"); n != 0 {
		t.Errorf("serverlab_child_processes = %v after all connections closed, want 0", n)
	}
	// The children counted into the parent's totals.
	if n := tg.Metric("serverlab_requests_total"); n != 10 {
		t.Errorf("serverlab_requests_total = %v, want 10", n)
	}
	if n := tg.Metric("serverlab_connections_active"); n != 0 {
		t.Errorf("serverlab_connections_active = %v, want 0", n)
	}
	tg.Stop(10 * time.Second)
	if len(seen) < 4 {
		t.Errorf("saw %d distinct children, want at least 4", len(seen))
	}
}

// SIGTERM with children serving open connections: the parent stops them,
// reaps every one and exits 0, leaving neither zombie nor orphan.
func TestShutdownLeavesNoChild(t *testing.T) {
	tg := proctest.Start(t, "process", "--shutdown-timeout", "2s")
	for range 3 {
		c := tg.Dial()
		if st, _ := proctest.Get(t, c, "/", false); st != 200 {
			t.Fatalf("GET /: status %d", st)
		}
	}
	var kids []proctest.Proc
	proctest.Eventually(t, "3 children", func() bool {
		kids = proctest.Children(tg.Pid)
		return len(kids) == 3
	})
	tg.Stop(10 * time.Second)
	assertGone(t, kids)
}

// A child that ignores the polite request is killed after the shutdown
// timeout, and still reaped: a connection in the middle of a 10 s delay
// outlives a 1 s shutdown timeout.
func TestShutdownKillsStragglers(t *testing.T) {
	tg := proctest.Start(t, "process", "--shutdown-timeout", "1s")
	c := tg.Dial()
	if _, err := c.Write([]byte("GET /delay?ms=10000&block=1 HTTP/1.1\r\nHost: t\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	var kids []proctest.Proc
	proctest.Eventually(t, "a child serving the delayed request", func() bool {
		kids = proctest.Children(tg.Pid)
		return len(kids) == 1 && tg.Metric("serverlab_requests_total") == 1
	})
	tg.Stop(5 * time.Second)
	assertGone(t, kids)
}

// assertGone fails if any of kids still exists: alive (an orphan) or a
// zombie (never reaped). This process is the subreaper, so either would
// show up here; it reaps them before failing.
func assertGone(t *testing.T, kids []proctest.Proc) {
	t.Helper()
	for _, k := range kids {
		p, ok := proctest.ReadProc(k.Pid)
		if !ok {
			continue
		}
		t.Errorf("child %v survived its parent", p)
		unix.Kill(k.Pid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(k.Pid, &ws, 0, nil)
	}
	if left := proctest.Children(os.Getpid()); slices.ContainsFunc(left, func(p proctest.Proc) bool { return p.State == 'Z' }) {
		t.Errorf("zombies left under the test process: %v", left)
	}
}

// Ctrl-C in a terminal signals the whole process group. The parent alone
// decides when children stop, so the request a child is serving is still
// answered.
func TestGroupSignalDrains(t *testing.T) {
	tg := proctest.Start(t, "process", "--shutdown-timeout", "5s")
	c := tg.Dial()
	if _, err := c.Write([]byte("GET /delay?ms=1000 HTTP/1.1\r\nHost: t\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	var kids []proctest.Proc
	proctest.Eventually(t, "a child serving the delayed request", func() bool {
		kids = proctest.Children(tg.Pid)
		return len(kids) == 1 && tg.Metric("serverlab_requests_total") == 1
	})
	tg.InterruptGroup(c)
	assertGone(t, kids)
}
