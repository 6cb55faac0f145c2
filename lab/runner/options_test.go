package runner

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// With a locustfile and bin/target that take them, the timeouts, the
// target's admin URL and --on-emfile reach the processes, each model runs
// once per mode, and meta.json and the report's names say which was which.
func TestRunPassesTimeoutsAndEMFILEModes(t *testing.T) {
	cfg, loc := fakeSetupWith(t, true)
	cfg.Models, cfg.Workers = []string{"alpha"}, 1
	cfg.ConnectTimeout = 1500 * time.Millisecond
	cfg.OnEMFILE = []string{"wait", "shed"}
	var reported []string
	var out strings.Builder
	_, err := Run(context.Background(), cfg, Options{Locust: loc, Progress: &out, Report: func(dir string, runs []string) error {
		reported = runs
		return nil
	}})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if strings.Join(reported, ",") != "alpha-wait,alpha-shed" {
		t.Errorf("report made for %v", reported)
	}
	m := readMeta(t, cfg.Out)
	p := m.Parameters
	if p.ConnectTimeout == nil || *p.ConnectTimeout != 1.5 || p.ResponseTimeout == nil || *p.ResponseTimeout != 10 ||
		strings.Join(p.OnEMFILE, ",") != "wait,shed" || m.Locust.Chosen != "--locust" {
		t.Errorf("meta.json parameters %+v, locust %+v", p, m.Locust)
	}
	if len(m.Runs) != 2 {
		t.Fatalf("runs %+v", m.Runs)
	}
	for i, mode := range []string{"wait", "shed"} {
		r := m.Runs[i]
		if r.Model != "alpha" || r.Name != "alpha-"+mode || r.OnEMFILE != mode || !r.Completed {
			t.Errorf("run %d: %+v", i, r)
		}
		base := filepath.Join(cfg.Out, "alpha-"+mode)
		if targs := logValue(t, base+".target.log", "args"); !strings.Contains(targs, "--model alpha ") || !strings.HasSuffix(targs, "--on-emfile "+mode) {
			t.Errorf("target args %q", targs)
		}
		margs := logValue(t, base+".locust.log", "args")
		for _, want := range []string{"--target alpha", "--connect-timeout 1.5 --response-timeout 10", "--target-admin-url http://127.0.0.1:", "--csv " + base + " "} {
			if !strings.Contains(margs, want) {
				t.Errorf("master args %q lack %q", margs, want)
			}
		}
		if len(r.Files) != 8 || r.Files[0] != "alpha-"+mode+".boomer-1.log" {
			t.Errorf("files %v", r.Files)
		}
	}
	if !strings.Contains(out.String(), "lab: 2 runs (1 models), 1s each") ||
		!strings.Contains(out.String(), "timeouts connect 1.5s, response 10s, on EMFILE wait and shed") ||
		!strings.Contains(out.String(), "[2/2] alpha-shed") {
		t.Errorf("console:\n%s", out.String())
	}
}

// Today's locustfile and bin/target lack those options: nothing is passed
// that they would refuse, meta.json says so, and asking for them is
// refused before a folder is made.
func TestRunWithoutTheNewerOptions(t *testing.T) {
	cfg, loc := fakeSetup(t)
	cfg.Models, cfg.Workers = []string{"alpha"}, 1
	if _, err := Run(context.Background(), cfg, Options{Locust: loc}); err != nil {
		t.Fatal(err)
	}
	m := readMeta(t, cfg.Out)
	if m.Parameters.ConnectTimeout != nil || m.Parameters.OnEMFILE != nil || m.Runs[0].OnEMFILE != "" || m.Runs[0].Name != "" {
		t.Errorf("meta.json %+v", m)
	}
	base := filepath.Join(cfg.Out, "alpha")
	if a := logValue(t, base+".locust.log", "args"); strings.Contains(a, "timeout") || strings.Contains(a, "admin-url") {
		t.Errorf("master args %q", a)
	}
	if a := logValue(t, base+".target.log", "args"); strings.Contains(a, "emfile") {
		t.Errorf("target args %q", a)
	}

	for name, set := range map[string]func(*Config){
		"timeouts": func(c *Config) { c.ResponseTimeout = time.Second },
		"emfile":   func(c *Config) { c.OnEMFILE = []string{"shed"} },
	} {
		c := cfg
		c.Out = filepath.Join(t.TempDir(), "new")
		set(&c)
		_, err := Run(context.Background(), c, Options{Locust: loc})
		if err == nil || !strings.Contains(err.Error(), "has no such") {
			t.Errorf("%s: %v", name, err)
		}
		if _, serr := os.Stat(c.Out); serr == nil {
			t.Errorf("%s: %s made", name, c.Out)
		}
	}
}

func TestMasterArgs(t *testing.T) {
	cfg := Config{Users: 5, SpawnRate: 2.5, RunTime: 3 * time.Second, Workers: 2, UserClass: "HammerUser"}
	s := step{label: "epoll-shed", model: "epoll", onEMFILE: "shed"}
	got := strings.Join(masterArgs(&cfg, features{target: true, timeouts: true, targetAdmin: true},
		"/r/locustfile.py", "/o/epoll-shed", "127.0.0.1:8080", "127.0.0.1:9090", 5557, s), " ")
	want := "-f /r/locustfile.py --master --headless --expect-workers 2 -u 5 -r 2.5 -t 3s " +
		"--csv /o/epoll-shed --csv-full-history --html /o/epoll-shed.html --host http://127.0.0.1:8080 " +
		"--master-bind-host 127.0.0.1 --master-bind-port 5557 --target epoll " +
		"--connect-timeout 5 --response-timeout 10 --target-admin-url http://127.0.0.1:9090 HammerUser"
	if got != want {
		t.Errorf("master args\n%s\nwant\n%s", got, want)
	}
	got = strings.Join(masterArgs(&cfg, features{}, "/r/locustfile.py", "/o/epoll", "127.0.0.1:8080", "", 5557, s), " ")
	if strings.Contains(got, "--target") || strings.Contains(got, "timeout") {
		t.Errorf("without features: %s", got)
	}
	cfg.MaxFDs, cfg.Pool, cfg.Repo = 64, 3, "/r"
	if got := strings.Join(targetArgs(&cfg, s), " "); got != "--model epoll --addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --docroot /r/targets/www --max-fds 64 --workers 3 --on-emfile shed" {
		t.Errorf("target args %s", got)
	}
}

func TestPlan(t *testing.T) {
	cfg := Config{Models: []string{"a", "b"}}
	names := func(ss []step) string {
		var out []string
		for _, s := range ss {
			out = append(out, s.label+":"+s.model+":"+s.onEMFILE)
		}
		return strings.Join(out, " ")
	}
	if got := names(plan(&cfg, features{onEMFILE: true})); got != "a:a:wait b:b:wait" {
		t.Errorf("default: %s", got)
	}
	cfg.OnEMFILE = []string{"shed", "wait"}
	if got := names(plan(&cfg, features{onEMFILE: true})); got != "a-shed:a:shed a-wait:a:wait b-shed:b:shed b-wait:b:wait" {
		t.Errorf("both: %s", got)
	}
	if got := names(plan(&cfg, features{})); got != "a:a: b:b:" {
		t.Errorf("no --on-emfile: %s", got)
	}
	// Generators, spawn rates and repeats multiply the runs, a model's
	// runs together, each named by what sets it apart.
	seeds := Config{Models: []string{"a"}, Generator: "both", SpawnRates: []float64{100, 1000}}
	var got []string
	for _, s := range plan(&seeds, features{}) {
		got = append(got, s.label+":"+s.generator+":"+strconv.FormatFloat(s.spawnRate, 'g', -1, 64))
	}
	if strings.Join(got, " ") != "a-go-ramp100:go:100 a-go-ramp1000:go:1000 a-python-ramp100:python:100 a-python-ramp1000:python:1000" {
		t.Errorf("seeds: %s", got)
	}
	rep := Config{Models: []string{"a", "b"}, Repeat: 2}
	got = nil
	for _, s := range plan(&rep, features{}) {
		got = append(got, s.label)
	}
	if strings.Join(got, " ") != "a-run1 a-run2 b-run1 b-run2" {
		t.Errorf("--repeat 2: %s", got)
	}
}

// A sweep's master gets no -u, -r or -t: its load shape sets the users
// and ends the run; the locustfile written for it holds the steps.
func TestSweepMasterArgsAndLocustfile(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Users: 7, SpawnRate: 50, RunTime: 20 * time.Second, Workers: 2, UserClass: "LabUser",
		Sweep: []int{10, 100, 1000}, Repo: "/the/repo", Out: dir}
	checkSweepFiles(t, &cfg, "Sweep = step_shape([10, 100, 1000], hold=20, spawn_rate=50)")
	// Ramps of 1, 2 and 18 s, and three windows of 20 s.
	if got := cfg.loadTime(); got != 81*time.Second {
		t.Errorf("load time %s", got)
	}
}

// checkSweepFiles checks that a sweep's master gets no -u, -r or -t and
// that its locustfile imports the checkout's and holds want.
func checkSweepFiles(t *testing.T, cfg *Config, want ...string) {
	t.Helper()
	args := strings.Join(masterArgs(cfg, features{}, "/x/sweep_locustfile.py", "/o/m", "127.0.0.1:1", "", 5557, step{model: "m"}), " ")
	for _, bad := range []string{" -u ", " -r ", " -t "} {
		if strings.Contains(args, bad) {
			t.Errorf("master args have %q: %s", bad, args)
		}
	}
	path, err := writeSweepLocustfile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, w := range append([]string{`sys.path.insert(0, "/the/repo")`, "from locustfile import *"}, want...) {
		if !strings.Contains(string(b), w) {
			t.Errorf("%s lacks %q:\n%s", path, w, b)
		}
	}
}

// A target that dies under load ends its run with the reason, and what
// was measured until then is still collected.
func TestRunTargetDiesDuringTheRun(t *testing.T) {
	cfg, loc := fakeSetup(t)
	cfg.Models, cfg.Workers, cfg.RunTime = []string{"dies"}, 1, time.Minute
	_, err := Run(context.Background(), cfg, Options{Locust: loc})
	if err == nil || !strings.Contains(err.Error(), "target exited during the run (exit status 4): fatal error: thread exhaustion") {
		t.Fatalf("Run: %v", err)
	}
	r := readMeta(t, cfg.Out).Runs[0]
	if r.Completed || r.Requests == 0 || r.Peaks["serverlab_open_fds"] != 9 || r.MasterExit == -1 {
		t.Errorf("run %+v", r)
	}
}
