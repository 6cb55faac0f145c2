package runner

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseCPUs(t *testing.T) {
	c, err := ParseCPUs("0:1-2,4")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String(); got != "0:1,2,4" {
		t.Errorf("String() = %q, want 0:1,2,4", got)
	}
	c, err = ParseCPUs(":3")
	if err != nil || c.Target.Count() != 0 || !c.Load.IsSet(3) {
		t.Errorf(":3 -> %v %v", c, err)
	}
	for _, bad := range []string{"0", "a:1", "0:2-1", "0:-1", "0:99999", "0,,1:2"} {
		if _, err := ParseCPUs(bad); err == nil {
			t.Errorf("ParseCPUs(%q) accepted", bad)
		}
	}
}

func TestDefaultCPUsDisjoint(t *testing.T) {
	c := DefaultCPUs()
	for i := 0; i < len(c.Target)*64; i++ {
		if c.Target.IsSet(i) && c.Load.IsSet(i) {
			t.Fatalf("CPU %d is both the targets' and the load's: %s", i, c)
		}
	}
	if c.Target.Count() > 0 && c.Load.Count() == 0 {
		t.Fatalf("targets pinned but load not: %s", c)
	}
}

func TestParseConsoleAggregated(t *testing.T) {
	// As Locust 2.12.1 and 2.47.0 print them.
	line := "         Aggregated                                                                     1234     5(0.41%) |      3       1      10      3 |  123.40        0.50"
	v, ok := parseConsoleAggregated(line)
	if !ok || v.Requests != 1234 || v.Failures != 5 || v.RPS != 123.4 || v.FailRPS != 0.5 {
		t.Fatalf("got %+v %v", v, ok)
	}
	for _, no := range []string{
		"GET      /                                                                               12     0(0.00%) |      3       2       5      3 |    0.00        0.00",
		"         Aggregated                                                                        3      5      6      7     10     20     30     40     50     60     70    123",
		"Type     Name                                                                          # reqs      # fails |    Avg     Min     Max    Med |   req/s  failures/s",
		"",
	} {
		if v, ok := parseConsoleAggregated(no); ok {
			t.Errorf("%q read as %+v", no, v)
		}
	}
}

func TestParseSamples(t *testing.T) {
	s := parseSamples(`# HELP serverlab_open_fds Open descriptors.
# TYPE serverlab_open_fds gauge
serverlab_open_fds{model="epoll"} 12
serverlab_responses_total{model="epoll",status="200"} 1e+03
serverlab_os_threads{le="a,model=\"b\"",model="x"} 3
serverlab_accept_errors_total{errno="EMFILE"} 7 1700000000000
garbage line here
`)
	want := map[string]float64{
		"serverlab_open_fds":                            12,
		`serverlab_responses_total{status="200"}`:       1000,
		`serverlab_os_threads{le="a,model=\"b\""}`:      3,
		`serverlab_accept_errors_total{errno="EMFILE"}`: 7,
	}
	if len(s) != len(want) {
		t.Fatalf("got %v", s)
	}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("%s = %v, want %v", k, s[k], v)
		}
	}
	peaks := map[string]float64{"serverlab_open_fds": 20}
	mergePeaks(peaks, s)
	mergePeaks(peaks, map[string]float64{"serverlab_os_threads": 4})
	if peaks["serverlab_open_fds"] != 20 || peaks["serverlab_os_threads"] != 4 {
		t.Errorf("peaks %v", peaks)
	}
}

func TestAtLeast(t *testing.T) {
	for _, c := range []struct {
		v, min string
		want   bool
	}{
		{"2.12.1", "2.12", true}, {"2.12", "2.12", true}, {"2.9.0", "2.12", false},
		{"2.47.0", "2.12", true}, {"3.0", "2.12", true}, {"1.99", "2.12", false},
		{"", "2.12", false}, {"2", "2.12", false}, {"2.13rc1", "2.12", true},
	} {
		if got := atLeast(c.v, c.min); got != c.want {
			t.Errorf("atLeast(%q, %q) = %v", c.v, c.min, got)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Models: []string{"epoll"}, Users: 1, SpawnRate: 1, RunTime: time.Second, Workers: 1, UserClass: "LabUser", Out: "x"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]func(*Config){
		"no models":  func(c *Config) { c.Models = nil },
		"twice":      func(c *Config) { c.Models = []string{"a", "a"} },
		"users":      func(c *Config) { c.Users = 0 },
		"rate":       func(c *Config) { c.SpawnRate = 0 },
		"time":       func(c *Config) { c.RunTime = time.Millisecond },
		"workers":    func(c *Config) { c.Workers = 0 },
		"pool":       func(c *Config) { c.Pool = -1 },
		"fds":        func(c *Config) { c.MaxFDs = -1 },
		"user class": func(c *Config) { c.UserClass = "Nobody" },
	} {
		c := ok
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLocustRunTime(t *testing.T) {
	if got := locustRunTime(1500 * time.Millisecond); got != "2s" {
		t.Errorf("1.5s -> %s", got)
	}
	if got := locustRunTime(time.Minute); got != "60s" {
		t.Errorf("1m -> %s", got)
	}
}

func TestOnPathVersions(t *testing.T) {
	dir := t.TempDir()
	for v, ok := range map[string]bool{"2.20.1": true, "2.12.0": true, "2.9.0": false, "": false} {
		p := filepath.Join(dir, "locust-"+v)
		script := "#!/bin/sh\necho 'locust " + v + " from /somewhere (python 3.11)'\n"
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		l, err := onPath(p)
		if ok != (err == nil) {
			t.Errorf("locust %q: %+v, %v", v, l, err)
		}
		if ok && (l.Version != v || l.Python != "/bin/sh") {
			t.Errorf("locust %q: %+v", v, l)
		}
	}
}

func TestProgressTTY(t *testing.T) {
	var b strings.Builder
	p := &progress{w: &b, tty: true}
	p.update("long status line")
	p.update("short")
	p.line("done %d", 1)
	p.end()
	want := "\rlong status line\rshort           \ndone 1\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	p = &progress{w: &b}
	p.update("one")
	p.update("two")
	p.end()
	if b.String() != "one\ntwo\n" {
		t.Errorf("not a TTY: %q", b.String())
	}
}

func TestStatusLine(t *testing.T) {
	s := statusLine(2, 13, "epoll", 30*time.Second, time.Minute, 90*time.Second, 13*time.Minute,
		Live{Requests: 1000, Failures: 10, RPS: 512.25, Seen: true})
	for _, want := range []string{"[2/13] epoll", "0:30/1:00", "1:30/13:00", "512.2 req/s", "1000 requests", "10 failures (1.00%)"} {
		if !strings.Contains(s, want) {
			t.Errorf("%q lacks %q", s, want)
		}
	}
	if s := statusLine(1, 1, "x", 0, time.Minute, 0, time.Minute, Live{}); !strings.Contains(s, "starting") {
		t.Errorf("before any request: %q", s)
	}
}

// Locust prints its console table on stderr: the live view must see it, and
// the log must hold both streams.
func TestStartSeesBothStreams(t *testing.T) {
	log := filepath.Join(t.TempDir(), "p.log")
	var mu sync.Mutex
	var seen []string
	p, err := start("sh", exec.Command("sh", "-c", "echo out; echo err >&2"), log, func(line string) {
		mu.Lock()
		seen = append(seen, line)
		mu.Unlock()
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.waitOutput(5 * time.Second)
	mu.Lock()
	got := strings.Join(seen, ",")
	mu.Unlock()
	if got != "out,err" {
		t.Errorf("onLine saw %q, want out,err", got)
	}
	if b, _ := os.ReadFile(log); string(b) != "out\nerr\n" {
		t.Errorf("log holds %q, want both lines", b)
	}
}

func TestTreeCPUCountsChildren(t *testing.T) {
	// A shell whose child burns CPU: the tree's time grows with the child's.
	cmd := exec.Command("sh", "-c", "sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done' & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cpu, err := treeCPU(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if cpu >= 0.2 {
			break // the child's time, while it still runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("tree CPU still %.2f s", cpu)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := treeCPU(cmd.Process.Pid); err == nil {
		t.Error("treeCPU of an ended process: no error")
	}
}

func TestReadStatOddNames(t *testing.T) {
	p := filepath.Join(t.TempDir(), "stat")
	line := "42 (a) (b c)) S 7 42 42 0 -1 4194560 100 0 0 0 150 50 3 2 20 0 1 0 100 1000 10\n"
	if err := os.WriteFile(p, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	ppid, ticks, err := readStat(p)
	if err != nil || ppid != 7 || ticks != 205 {
		t.Fatalf("readStat = %d, %d, %v; want 7, 205, nil", ppid, ticks, err)
	}
}

// A process's run-queue wait sums its threads' schedstat; this test's own
// process has several threads and has run, so it reads; a process that is
// gone is an error, not 0.
func TestRunQueueWait(t *testing.T) {
	w, err := runQueueWait(os.Getpid())
	if err != nil || w < 0 || math.IsNaN(w) {
		t.Fatalf("runQueueWait(self) = %v, %v", w, err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := runQueueWait(cmd.Process.Pid); err == nil {
		t.Error("a reaped process's wait read without an error")
	}
}
