package runner

import (
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
	checkSweepFiles(t, &cfg, "from serverlab_locust.sweep import rate_shape",
		"Sweep = rate_shape([1000, 2500.5], users=100, hold=20, spawn_rate=50)")
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
