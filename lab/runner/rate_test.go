package runner

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A rate sweep's master gets no -u, -r or -t either; its locustfile holds
// the rates and the pool, and the run is planned as the pool's spawn, then
// each rate's settling and window.
func TestRateSweepMasterArgsAndLocustfile(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Users: 100, SpawnRate: 50, RunTime: 20 * time.Second, Workers: 2, UserClass: "LabUser",
		SweepRPS: []float64{1000, 2500.5}, Repo: "/the/repo", Out: dir}
	args := strings.Join(masterArgs(&cfg, features{}, "/x/sweep_locustfile.py", "/o/m", "127.0.0.1:1", "", 5557, step{model: "m"}), " ")
	for _, bad := range []string{" -u ", " -r ", " -t "} {
		if strings.Contains(args, bad) {
			t.Errorf("master args have %q: %s", bad, args)
		}
	}
	path, err := writeSweepLocustfile(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{`sys.path.insert(0, "/the/repo")`, "from serverlab_locust.sweep import rate_shape",
		"Sweep = rate_shape([1000, 2500.5], users=100, hold=20, spawn_rate=50)"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q:\n%s", path, want, b)
		}
	}
	// The pool in 2 s, then two rates of 3 s settling and 20 s windows.
	if got := cfg.loadTime(); got != 48*time.Second {
		t.Errorf("load time %s", got)
	}
	p := Presets["sweep-rps"]
	preset := Config{Users: p.Users, SpawnRate: p.SpawnRate, RunTime: p.RunTime, SweepRPS: p.SweepRPS}
	if got := preset.loadTime(); got != 101*time.Second {
		t.Errorf("the sweep-rps preset's load time %s, the README says 101 s", got)
	}
	if err := (&Config{Models: []string{"m"}, Users: 1, SpawnRate: 1, RunTime: time.Second, Workers: 1, Out: "x",
		UserClass: "LabUser", SweepRPS: []float64{5}, Generator: "python"}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "Python workers cannot hold an arrival rate") {
		t.Errorf("python generator: %v", err)
	}
}
