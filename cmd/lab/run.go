package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/internal/repo"
	"serverlab/lab/report"
	"serverlab/lab/runner"
)

const runAbout = `
Runs headless Locust against every target model, one after another, each from
a fresh start under the same limits, and writes Locust's CSVs and HTML, the
target and Locust logs, meta.json and the comparison report to --out.
Explicit flags override the preset.
`

// runFlags are the parsed flags, before the environment is consulted.
type runFlags struct {
	cfg      runner.Config
	preset   string
	models   string
	cpus     string
	sweep    string
	sweepRPS string
	kneeP95  string
}

// runFlagSet defines lab run's flags into f; their texts are the help.
func runFlagSet(f *runFlags, runTime, pause, connect, response, onEMFILE *string) *flag.FlagSet {
	fs := newFlags("lab run")
	c := &f.cfg
	fs.StringVar(&f.preset, "preset", "lab", "`NAME`: lab (LabUser, 1000 users, spawn rate 100, 60s a model), quick (20 users, 5s a model), max (HammerUser, 200 users, 30s a model: each model's ceiling), sweep (LabUser steps 10,100,1000,2000,5000 at spawn rate 500, 30s each: each model's knee), seeds (the course's setup: 1000 LabUsers ramped at 100 and at 1000 a second, 30s, Go and Python workers; single, process, thread, select and epoll), sweep-rps (a pool of 1000 users held at 1000, 10000 and 100000 requests a second, 30s each: each model's knee in an open model) or c10k (LabUsers from 1000 up to as many as the open-files hard limit lets a target hold, 20s a step at spawn rate 1000, the targets at that limit, as many workers as the users need: what each model pays per connection and where it stops)")
	fs.StringVar(&f.sweep, "sweep", "", "a step-load sweep: user counts, `LIST` (10,100,1000), each held --run-time after its ramp at --spawn-rate; the report finds each model's knee (default the preset's)")
	fs.StringVar(&f.sweepRPS, "sweep-rps", "", "an open-model sweep: arrival rates, `LIST` (1000,10000), requests a second held whatever the latency, each for --run-time; --users are the pool, spawned once; times run from when each request was due; Go workers only (default the preset's)")
	fs.StringVar(&c.Generator, "generator", "", "who makes the load, `G`: go (bin/boomer), python (Locust's workers running the locustfile's HttpUsers, as the course did) or both (each model once with each; default the preset's, else go)")
	fs.Float64Var(&c.KneeFailPct, "knee-failures", 1, "a sweep's service level: a step fails it with `PCT` percent of its requests failed or more")
	fs.StringVar(&f.kneeP95, "knee-p95", "1s", "a sweep's service level: a step fails it with a p95 of `D` or more")
	fs.IntVar(&c.Repeat, "repeat", 1, "run each model `N` times; the report gives the median and the spread")
	fs.StringVar(&f.models, "models", "", "comma-separated `LIST` of models (default every one bin/target lists)")
	fs.IntVar(&c.Users, "users", 0, "Locust users, `N` (default the preset's)")
	fs.Float64Var(&c.SpawnRate, "spawn-rate", 0, "users started per second, `R` (default the preset's)")
	fs.StringVar(runTime, "run-time", "", "load time per model, `D` (60s, 2m; a bare number is seconds; default the preset's)")
	fs.StringVar(&c.UserClass, "user-class", "", "`NAME`: LabUser, BrowserUser, HammerUser, SlowIOUser or CPUUser (default the preset's)")
	fs.StringVar(connect, "connect-timeout", "", fmt.Sprintf("a user's connect timeout, `D` (2.5, 500ms; a bare number is seconds), given to the master (default %s)", runner.DefaultConnectTimeout))
	fs.StringVar(response, "response-timeout", "", fmt.Sprintf("a user's response timeout, `D`, given to the master (default %s)", runner.DefaultResponseTimeout))
	fs.StringVar(onEMFILE, "on-emfile", "", "what every target does at EMFILE, `MODE`: wait (leave clients in the backlog) or shed (accept and close at once); wait,shed runs each model in both, named MODEL-wait and MODEL-shed (default "+runner.DefaultOnEMFILE+")")
	fs.IntVar(&c.Workers, "workers", 1, "worker processes, `N` (bin/boomer, or Locust workers with --generator python)")
	fs.IntVar(&c.Pool, "pool", 0, "every target's --workers (pool size), `N` (default each model's own)")
	fs.IntVar(&c.MaxFDs, "max-fds", 0, "RLIMIT_NOFILE of targets and workers, `N` (default inherited)")
	fs.StringVar(&f.cpus, "cpus", "", "CPUs of the targets : of Locust and its workers, `T:L`, e.g. 0:1 (default first half : second half; none pins nothing)")
	fs.StringVar(&c.Locust, "locust", "", "the Locust master to run, a `PATH` or command (default $"+runner.LocustEnv+", else the version requirements.txt pins: .venv, made if missing)")
	fs.StringVar(&c.Out, "out", "", "results folder, `DIR` (default <repo>/results/<timestamp>)")
	fs.StringVar(pause, "pause", "1s", "quiet time between models, `D`")
	fs.StringVar(&c.BinDir, "bin", "", "where target and boomer are, `DIR` (default next to lab)")
	fs.StringVar(&c.Repo, "repo", "", "the checkout with locustfile.py, `DIR` (default found from here)")
	return fs
}

func parseRunFlags(args []string) (*runFlags, error) {
	f := &runFlags{}
	c := &f.cfg
	var runTime, pause, connect, response, onEMFILE string
	fs := runFlagSet(f, &runTime, &pause, &connect, &response, &onEMFILE)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	p, ok := runner.Presets[f.preset]
	if !ok {
		return nil, fmt.Errorf("--preset %q: want lab, quick, max, sweep, seeds, sweep-rps or c10k", f.preset)
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if !set["users"] {
		c.Users = p.Users
	}
	if !set["spawn-rate"] {
		c.SpawnRate = p.SpawnRate
	}
	if !set["user-class"] {
		c.UserClass = p.UserClass
	}
	if !set["generator"] {
		c.Generator = p.Generator
	}
	if !set["spawn-rate"] && !set["sweep"] {
		c.SpawnRates = p.SpawnRates
	}
	c.Sweep, c.SweepRPS = p.Sweep, p.SweepRPS
	if set["sweep-rps"] {
		c.Sweep, c.SweepRPS = nil, nil
		for _, item := range splitList(f.sweepRPS) {
			r, err := strconv.ParseFloat(item, 64)
			if err != nil {
				return nil, fmt.Errorf("--sweep-rps %q: %q is not a rate (requests a second)", f.sweepRPS, item)
			}
			c.SweepRPS = append(c.SweepRPS, r)
		}
		if len(c.SweepRPS) == 0 {
			return nil, fmt.Errorf("--sweep-rps %q names no step", f.sweepRPS)
		}
	}
	if set["sweep"] {
		if set["sweep-rps"] {
			return nil, errors.New("--sweep and --sweep-rps: a sweep's steps are users or rates, not both")
		}
		c.SweepRPS = nil
		c.Sweep = nil
		for _, item := range splitList(f.sweep) {
			n, err := strconv.Atoi(item)
			if err != nil {
				return nil, fmt.Errorf("--sweep %q: %q is not a user count", f.sweep, item)
			}
			c.Sweep = append(c.Sweep, n)
		}
		if len(c.Sweep) == 0 {
			return nil, fmt.Errorf("--sweep %q names no step", f.sweep)
		}
	}
	limits := runner.ReadLimits()
	if p.C10K {
		steps, workers, maxFDs := runner.C10K(limits)
		if !set["sweep"] {
			c.Sweep = steps
		}
		if !set["workers"] {
			c.Workers = workers
		}
		if !set["max-fds"] {
			c.MaxFDs = maxFDs
		}
		if !set["users"] {
			c.Users = steps[len(steps)-1]
		}
	}
	c.RunTime = p.RunTime
	if set["run-time"] {
		d, err := parseDuration(runTime)
		if err != nil {
			return nil, fmt.Errorf("--run-time %q: %w", runTime, err)
		}
		c.RunTime = d
	}
	if d, err := parseTimeout(f.kneeP95); err != nil {
		return nil, fmt.Errorf("--knee-p95 %q: %w", f.kneeP95, err)
	} else {
		c.KneeP95 = float64(d) / float64(time.Millisecond)
	}
	d, err := parseDuration(pause)
	if err != nil {
		return nil, fmt.Errorf("--pause %q: %w", pause, err)
	}
	c.Pause = d
	for _, t := range []struct {
		name, v string
		d       *time.Duration
	}{{"connect-timeout", connect, &c.ConnectTimeout}, {"response-timeout", response, &c.ResponseTimeout}} {
		if !set[t.name] {
			continue
		}
		if *t.d, err = parseTimeout(t.v); err != nil {
			return nil, fmt.Errorf("--%s %q: %w", t.name, t.v, err)
		}
	}
	if set["on-emfile"] {
		c.OnEMFILE = splitList(onEMFILE)
		if len(c.OnEMFILE) == 0 {
			return nil, fmt.Errorf("--on-emfile %q names no mode", onEMFILE)
		}
	}
	switch f.cpus {
	case "":
		c.CPUs = runner.DefaultCPUs()
	case "none":
	default:
		if c.CPUs, err = runner.ParseCPUs(f.cpus); err != nil {
			return nil, err
		}
	}
	c.Models = p.Models
	if set["models"] {
		c.Models = splitList(f.models)
		if len(c.Models) == 0 {
			return nil, fmt.Errorf("--models %q names no model", f.models)
		}
	}
	// Everything but the models and folders can be checked now, before
	// any folder is made; the models are checked against bin/target's
	// list later.
	check := *c
	if len(check.Models) == 0 {
		check.Models = []string{"-"}
	}
	check.Out = "-"
	if err := check.Validate(); err != nil {
		return nil, err
	}
	// Users a worker cannot hold would fail in the worker, mid-run, and
	// the run would measure the worker: refused here, before the run.
	if err := c.CheckLimits(limits); err != nil {
		return nil, err
	}
	c.Sources = c.SourcesFor(limits)
	return f, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, m := range strings.Split(s, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// parseTimeout takes a Go duration or seconds, fractions allowed, as
// the locustfile's options do; it must be finite and more than 0.
func parseTimeout(s string) (time.Duration, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if !(v > 0) || v > 24*3600 {
			return 0, errors.New("want seconds more than 0 and at most a day")
		}
		return time.Duration(v * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("want a duration such as 5, 2.5 or 500ms")
	}
	return d, nil
}

// parseDuration takes Go durations and, as Locust does, bare seconds.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("want a duration such as 30s or 2m")
	}
	return d, nil
}

// runMain is `lab run`: 0 done, 1 a model or the report failed, 2 bad
// usage, 130 interrupted (what was measured is kept). Progress goes to
// stderr.
func runMain(args []string, stdout, stderr io.Writer) int {
	return runWith(context.Background(), args, stdout, stderr)
}

func runWith(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseRunFlags(args)
	if isHelp(err) {
		var x runFlags
		var s1, s2, s3, s4, s5 string
		printHelp(stdout, runFlagSet(&x, &s1, &s2, &s3, &s4, &s5), "lab run [flags]", runAbout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "lab run: %v (lab run --help)\n", err)
		return 2
	}
	cfg := f.cfg
	if err := resolveDirs(&cfg); err != nil {
		fmt.Fprintf(stderr, "lab run: %v\n", err)
		return 2
	}
	all, err := runner.ListModels(cfg.BinDir)
	if err != nil {
		fmt.Fprintf(stderr, "lab run: %v\n", err)
		return 1
	}
	if len(cfg.Models) == 0 {
		cfg.Models = all
	}
	for _, m := range cfg.Models {
		if !contains(all, m) {
			fmt.Fprintf(stderr, "lab run: --models: unknown model %q (models: %s)\n", m, strings.Join(all, ","))
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ran, err := runner.Run(ctx, cfg, runner.Options{
		Preset:   f.preset,
		Progress: stderr,
		TTY:      isTerminal(stderr),
		Report:   report.WriteDir,
	})
	switch {
	case errors.Is(err, runner.ErrInterrupted):
		return 130
	case err != nil:
		fmt.Fprintf(stderr, "lab run: %s\n", oneLine(err.Error()))
		if ran != nil && runner.Measured(cfg.Out) {
			fmt.Fprintf(stderr, "lab run: what was measured is in %s\n", cfg.Out)
		}
		return 1
	}
	return 0
}

// resolveDirs fills --bin, --repo and --out defaults.
func resolveDirs(c *runner.Config) error {
	if c.BinDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding bin/: %w (pass --bin DIR)", err)
		}
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		c.BinDir = filepath.Dir(exe)
	}
	if c.Repo == "" {
		root, err := repo.Root()
		if err != nil {
			// bin/lab run from elsewhere: the checkout is bin/'s parent.
			up := filepath.Dir(c.BinDir)
			if _, serr := os.Stat(filepath.Join(up, "go.mod")); serr != nil {
				return fmt.Errorf("%w; pass --repo DIR", err)
			}
			root = up
		}
		c.Repo = root
	}
	if c.Out == "" {
		c.Out = filepath.Join(c.Repo, "results", time.Now().Format("20060102-150405"))
	}
	for _, d := range []*string{&c.BinDir, &c.Repo, &c.Out} {
		abs, err := filepath.Abs(*d)
		if err != nil {
			return err
		}
		*d = abs
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// oneLine keeps the first line of a message; logs hold the rest.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
