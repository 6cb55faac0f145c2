package runner

import (
	"slices"
	"strings"
	"testing"
)

func TestC10KPlan(t *testing.T) {
	for _, c := range []struct {
		l        Limits
		steps    []int
		workers  int
		targetFD int
	}{
		// This lab's machines: 20,000 descriptors a process.
		{Limits{NoFile: 20000, Ports: 28232}, []int{1000, 2500, 5000, 10000, 15000, 19500}, 1, 20000},
		{Limits{NoFile: 1048576, Ports: 28232}, []int{1000, 2500, 5000, 10000, 15000, 20000, 30000, 50000, 100000, 200000, 500000, 1048000}, 1, 1048576},
		{Limits{NoFile: 4096, Ports: 28232}, []int{1000, 2500, 3500}, 1, 4096},
	} {
		steps, workers, fds := C10K(c.l)
		if !slices.Equal(steps, c.steps) || workers != c.workers || fds != c.targetFD {
			t.Errorf("C10K(%+v) = %v, %d workers, --max-fds %d; want %v, %d, %d", c.l, steps, workers, fds, c.steps, c.workers, c.targetFD)
		}
	}
}

func TestCheckLimits(t *testing.T) {
	l := Limits{NoFile: 20000, Ports: 28232}
	for _, c := range []struct {
		cfg  Config
		want string // "": allowed
	}{
		{Config{Users: 19984, Workers: 1}, ""},
		{Config{Users: 19985, Workers: 1}, "19985 users on 1 worker(s) is 19985 a worker, but a worker holds a connection per user and its open-files limit 20000 leaves room for 19984: use --workers 2 or more"},
		{Config{Users: 30000, Workers: 2}, ""},
		{Config{Users: 100, Workers: 1, Sweep: []int{10, 30000}}, "use --workers 2 or more"},
		{Config{Users: 1000, Workers: 1, MaxFDs: 512}, "open-files limit 512 leaves room for 496: use --workers 3 or more"},
		{Config{Users: 10, Workers: 1, MaxFDs: 30000}, "--max-fds 30000 is above the open-files hard limit 20000"},
		{Config{Users: 30000, Workers: 2, Generator: "python"}, "Python workers dial from one address"},
		{Config{Users: 30000, Workers: 2, Generator: "go"}, ""},
	} {
		err := c.cfg.CheckLimits(l)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: refused: %v", c.cfg, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

// Past one address's ports the Go workers dial from more loopback
// addresses, as many as the users need.
func TestSources(t *testing.T) {
	l := Limits{NoFile: 1 << 20, Ports: 28232}
	for users, want := range map[int]int{100: 1, 28232: 1, 28233: 2, 100000: 4} {
		c := Config{Users: users, Workers: 4}
		if got := c.SourcesFor(l); got != want {
			t.Errorf("%d users: %d source addresses, want %d", users, got, want)
		}
	}
	for n, want := range map[int]string{2: "127.0.0.1-127.0.0.2", 256: "127.0.0.1-127.0.1.0", 300: "127.0.0.1-127.0.1.44"} {
		if got := sourceList(n); got != want {
			t.Errorf("sourceList(%d) = %s, want %s", n, got, want)
		}
	}
	c := Config{Sources: 3}
	if got := strings.Join(workerArgs(&c, 5557), " "); !strings.Contains(got, "--source-addrs 127.0.0.1-127.0.0.3") {
		t.Errorf("worker args %q, want --source-addrs 127.0.0.1-127.0.0.3", got)
	}
	c.Sources = 1
	if got := strings.Join(workerArgs(&c, 5557), " "); strings.Contains(got, "--source-addrs") {
		t.Errorf("worker args %q with one source address", got)
	}
}
