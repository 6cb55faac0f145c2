package prefork_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/internal/proctest"
)

func TestMain(m *testing.M) { proctest.MainAsReaper(m) }

func pids(ps []proctest.Proc) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p.Pid
	}
	slices.Sort(out)
	return out
}

// The pool is exactly --workers processes, they serve, a process that dies
// is replaced, and SIGTERM ends and reaps them all.
func TestPool(t *testing.T) {
	tg := proctest.Start(t, "prefork", "--workers", "3", "--shutdown-timeout", "2s")
	var kids []proctest.Proc
	proctest.Eventually(t, "3 worker processes", func() bool {
		kids = proctest.Children(tg.Pid)
		return len(kids) == 3
	})
	// More connections than processes, one after another: each process
	// serves one at a time, and the pool serves them all.
	for range 10 {
		if st, _ := proctest.Get(t, tg.Dial(), "/", true); st != 200 {
			t.Fatalf("GET /: status %d", st)
		}
	}
	if n := tg.Metric("serverlab_requests_total"); n != 10 {
		t.Errorf("serverlab_requests_total = %v, want 10 (children count into the parent)", n)
	}

	victim := kids[0].Pid
	if err := unix.Kill(victim, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the killed worker reaped and replaced", func() bool {
		kids = proctest.Children(tg.Pid)
		return len(kids) == 3 && !slices.Contains(pids(kids), victim)
	})
	if st, _ := proctest.Get(t, tg.Dial(), "/", true); st != 200 {
		t.Fatalf("GET / after the restart: status %d", st)
	}

	// One worker holds a keep-alive connection while the pool stops.
	c := tg.Dial()
	if st, _ := proctest.Get(t, c, "/", false); st != 200 {
		t.Fatalf("GET /: status %d", st)
	}
	tg.Stop(10 * time.Second)
	assertGone(t, kids)
	if !strings.Contains(tg.Stderr(), "worker") {
		t.Errorf("the restart was not logged:\n%s", tg.Stderr())
	}
}

// Ctrl-C signals the whole process group; the parent alone stops the
// workers, so the request one is serving is still answered, and none is
// restarted on the way out.
func TestGroupSignalDrains(t *testing.T) {
	tg := proctest.Start(t, "prefork", "--workers", "2", "--shutdown-timeout", "5s")
	var kids []proctest.Proc
	proctest.Eventually(t, "2 worker processes", func() bool {
		kids = proctest.Children(tg.Pid)
		return len(kids) == 2
	})
	c := tg.Dial()
	if _, err := c.Write([]byte("GET /delay?ms=1000 HTTP/1.1\r\nHost: t\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the delayed request in a worker", func() bool {
		return tg.Metric("serverlab_requests_total") == 1
	})
	tg.InterruptGroup(c)
	assertGone(t, kids)
	if strings.Contains(tg.Stderr(), "starting another") {
		t.Errorf("a worker was restarted during shutdown:\n%s", tg.Stderr())
	}
}

// assertGone fails if any of kids still exists, alive or a zombie; this
// process is the subreaper, so either would show up here. It reaps them.
func assertGone(t *testing.T, kids []proctest.Proc) {
	t.Helper()
	for _, k := range kids {
		if p, ok := proctest.ReadProc(k.Pid); ok {
			t.Errorf("worker %v survived the parent", p)
			unix.Kill(k.Pid, unix.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(k.Pid, &ws, 0, nil)
		}
	}
}
