package runner

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"serverlab/internal/locusts"
)

// targetArgs are bin/target's flags for one run.
func targetArgs(cfg *Config, s step) []string {
	args := []string{"--model", s.model, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--docroot", filepath.Join(cfg.Repo, "targets", "www")}
	if cfg.MaxFDs > 0 {
		args = append(args, "--max-fds", strconv.Itoa(cfg.MaxFDs))
	}
	if cfg.Pool > 0 {
		args = append(args, "--workers", strconv.Itoa(cfg.Pool))
	}
	if s.onEMFILE != "" {
		args = append(args, "--on-emfile", s.onEMFILE)
	}
	return args
}

// masterArgs are the headless Locust master's arguments for one run
// against the target at addr (its metrics at admin), the master's
// ZeroMQ socket on port.
func masterArgs(cfg *Config, f features, locustfile, base, addr, admin string, port int, s step) []string {
	args := []string{"-f", locustfile, "--master", "--headless",
		"--expect-workers", strconv.Itoa(cfg.Workers)}
	// A sweep's load shape sets the users and ends the run itself.
	if !cfg.shaped() {
		rate := s.spawnRate
		if rate == 0 {
			rate = cfg.SpawnRate
		}
		args = append(args, "-u", strconv.Itoa(cfg.Users), "-r", strconv.FormatFloat(rate, 'g', -1, 64),
			"-t", locustRunTime(cfg.RunTime))
	}
	args = append(args, "--csv", base, "--csv-full-history", "--html", base+".html",
		"--host", "http://"+addr,
		"--master-bind-host", "127.0.0.1", "--master-bind-port", strconv.Itoa(port))
	if f.target {
		args = append(args, "--target", s.model)
	}
	if f.timeouts {
		args = append(args, "--connect-timeout", seconds(cfg.connectTimeout()),
			"--response-timeout", seconds(cfg.responseTimeout()))
	}
	if f.targetAdmin && admin != "" {
		args = append(args, "--target-admin-url", "http://"+admin)
	}
	return append(args, cfg.UserClass)
}

// pythonWorkerArgs are a Locust worker's arguments: the master's
// locustfile, whose HttpUsers it runs.
func pythonWorkerArgs(locustfile string, port int) []string {
	return []string{"-f", locustfile, "--worker", "--master-host", "127.0.0.1", "--master-port", strconv.Itoa(port)}
}

// SweepLocustfile is the locustfile a sweep's master and Python workers
// load, written into the run folder: the repository's, plus the load
// shape of the sweep.
const SweepLocustfile = "sweep_locustfile.py"

// SweepHeartbeatLiveness is how many seconds a sweep's master waits for a
// worker's heartbeat before declaring it missing (Locust's own: 3).
const SweepHeartbeatLiveness = 10

// writeSweepLocustfile writes it. Locust puts a locustfile's folder on
// sys.path, not the repository's, so the file adds that first.
func writeSweepLocustfile(cfg *Config) (string, error) {
	what := fmt.Sprintf("a load shape holding each user count for %s once ramped", cfg.RunTime)
	shape := fmt.Sprintf("Sweep = step_shape([%s], hold=%s, spawn_rate=%s)", joinInts(cfg.Sweep, ", "),
		seconds(cfg.RunTime), strconv.FormatFloat(cfg.SpawnRate, 'g', -1, 64))
	imp := "step_shape"
	if len(cfg.SweepRPS) > 0 {
		what = fmt.Sprintf("a load shape holding each arrival rate for %s, %d users its pool", cfg.RunTime, cfg.Users)
		shape = fmt.Sprintf("Sweep = rate_shape([%s], users=%d, hold=%s, spawn_rate=%s)", joinFloats(cfg.SweepRPS, ", "),
			cfg.Users, seconds(cfg.RunTime), strconv.FormatFloat(cfg.SpawnRate, 'g', -1, 64))
		imp = "rate_shape"
	}
	text := fmt.Sprintf(`"""The locustfile of this sweep, written by bin/lab run: the repository's
user classes, and %s."""

import sys

sys.path.insert(0, %q)

from locustfile import *  # noqa: F401,F403  the user classes and options
from serverlab_locust.sweep import %s, heartbeat_liveness

%s

# The last steps' ramps can hold the worker's heartbeats back a few seconds.
heartbeat_liveness(%d)
`, what, cfg.Repo, imp, shape, SweepHeartbeatLiveness)
	path := filepath.Join(cfg.Out, SweepLocustfile)
	return path, os.WriteFile(path, []byte(text), 0o644)
}

// joinFloats writes numbers as Python and the console read them.
func joinFloats(v []float64, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strings.Join(s, sep)
}

// workerArgs are a Go worker's flags.
func workerArgs(cfg *Config, port int) []string {
	args := []string{"--master-host", "127.0.0.1", "--master-port", strconv.Itoa(port)}
	if cfg.MaxFDs > 0 {
		args = append(args, "--max-fds", strconv.Itoa(cfg.MaxFDs))
	}
	if cfg.Sources > 1 {
		args = append(args, "--source-addrs", sourceList(cfg.Sources))
	}
	return args
}

// seconds is a duration as the locustfile's options take it.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// features are the options that the locustfile and bin/target in use
// have: the lab passes what they understand, so that it runs with an
// older checkout too, and says what it could not pass.
type features struct {
	target      bool // locustfile --target MODEL
	timeouts    bool // locustfile --connect-timeout, --response-timeout
	targetAdmin bool // locustfile --target-admin-url
	onEMFILE    bool // bin/target --on-emfile
}

// probes are the locustfile options the lab may pass, each with a value
// the option accepts.
func probes(model string) []string {
	return []string{"--target=" + model, "--connect-timeout=5", "--response-timeout=10",
		"--target-admin-url=http://127.0.0.1:9"}
}

// detect asks the master and bin/target which of those options they take.
// Locust's --help leaves the locustfile's own options out (2.47.0), so
// the master lists its user classes with every option given: argparse
// names the ones it does not know. model is one the run will load.
func detect(loc locusts.Locust, locustfile, target, model string) (features, error) {
	args := append([]string{"-f", locustfile, "--list"}, probes(model)...)
	cmd := exec.Command(loc.Path, args...)
	cmd.Dir = filepath.Dir(locustfile)
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	out, err := cmd.CombinedOutput()
	unknown := map[string]bool{}
	if err != nil {
		_, list, ok := strings.Cut(string(out), "unrecognized arguments:")
		if !ok {
			return features{}, &helpError{cmd: loc.Path + " " + strings.Join(args, " "), err: err, out: string(out)}
		}
		list, _, _ = strings.Cut(list, "\n")
		for _, f := range strings.Fields(list) {
			name, _, _ := strings.Cut(f, "=")
			unknown[name] = true
		}
	}
	thelp, err := exec.Command(target, "--help").CombinedOutput()
	if err != nil {
		return features{}, &helpError{cmd: target + " --help", err: err, out: string(thelp)}
	}
	targetHas := func(opt string) bool {
		for _, f := range strings.Fields(string(thelp)) {
			if f == opt || strings.HasPrefix(f, opt+"=") {
				return true
			}
		}
		return false
	}
	return features{
		target:      !unknown["--target"],
		timeouts:    !unknown["--connect-timeout"] && !unknown["--response-timeout"],
		targetAdmin: !unknown["--target-admin-url"],
		onEMFILE:    targetHas("--on-emfile"),
	}, nil
}

type helpError struct {
	cmd string
	err error
	out string
}

func (e *helpError) Error() string {
	last := ""
	for _, l := range strings.Split(strings.TrimSpace(e.out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			last = l
		}
	}
	return e.cmd + ": " + e.err.Error() + ": " + last
}

func (e *helpError) Unwrap() error { return e.err }

// check refuses, before anything starts, options the user gave that the
// locustfile or bin/target in use cannot take.
func (f features) check(cfg *Config) error {
	if !f.timeouts && (cfg.ConnectTimeout != 0 || cfg.ResponseTimeout != 0) {
		return fmt.Errorf("--connect-timeout, --response-timeout: %s has no such options", filepath.Join(cfg.Repo, "locustfile.py"))
	}
	if !f.onEMFILE && len(cfg.OnEMFILE) > 0 {
		return fmt.Errorf("--on-emfile: %s has no such flag (make build)", filepath.Join(cfg.BinDir, "target"))
	}
	return nil
}
