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

const runUsage = `usage: lab run [flags]

Runs headless Locust against every target model, one after another, each from
a fresh start under the same limits, and writes Locust's CSVs and HTML, the
target and Locust logs, meta.json and the comparison report to --out.

Flags (explicit flags override the preset):
  --preset NAME       lab (LabUser, 1000 users, spawn rate 100, 60s a model),
                      quick (20 users, 5s a model) or max (HammerUser, 200
                      users, 30s a model: each model's ceiling); default lab
  --models LIST       comma-separated models; default every one bin/target lists
  --users N           Locust users
  --spawn-rate R      users started per second
  --run-time D        load time per model (60s, 2m; a bare number is seconds)
  --user-class NAME   LabUser, BrowserUser, HammerUser, SlowIOUser or CPUUser
  --workers N         bin/boomer worker processes (default 1)
  --pool N            every target's --workers (pool size); default each model's own
  --max-fds N         RLIMIT_NOFILE of targets and workers; default inherited
  --cpus T:L          CPUs of the targets : of Locust and its workers, e.g. 0:1
                      (default: first half : second half; "none" pins nothing)
  --out DIR           results folder (default <repo>/results/<timestamp>)
  --pause D           quiet time between models (default 1s)
  --bin DIR           where target and boomer are (default: next to lab)
  --repo DIR          the checkout with locustfile.py (default: found from here)
`

// runCmd is `lab run`: 0 done, 1 a model or the report failed, 2 bad
// usage, 130 interrupted (what was measured is kept).
func runCmd(args []string) int {
	return runMain(context.Background(), args, os.Stderr)
}

// runFlags are the parsed flags, before the environment is consulted.
type runFlags struct {
	cfg    runner.Config
	preset string
	models string
	cpus   string
}

func parseRunFlags(args []string) (*runFlags, error) {
	fs := flag.NewFlagSet("lab run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &runFlags{}
	c := &f.cfg
	var runTime, pause string
	fs.StringVar(&f.preset, "preset", "lab", "")
	fs.StringVar(&f.models, "models", "", "")
	fs.IntVar(&c.Users, "users", 0, "")
	fs.Float64Var(&c.SpawnRate, "spawn-rate", 0, "")
	fs.StringVar(&runTime, "run-time", "", "")
	fs.StringVar(&c.UserClass, "user-class", "", "")
	fs.IntVar(&c.Workers, "workers", 1, "")
	fs.IntVar(&c.Pool, "pool", 0, "")
	fs.IntVar(&c.MaxFDs, "max-fds", 0, "")
	fs.StringVar(&f.cpus, "cpus", "", "")
	fs.StringVar(&c.Out, "out", "", "")
	fs.StringVar(&pause, "pause", "1s", "")
	fs.StringVar(&c.BinDir, "bin", "", "")
	fs.StringVar(&c.Repo, "repo", "", "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	p, ok := runner.Presets[f.preset]
	if !ok {
		return nil, fmt.Errorf("--preset %q: want lab, quick or max", f.preset)
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
	c.RunTime = p.RunTime
	if set["run-time"] {
		d, err := parseDuration(runTime)
		if err != nil {
			return nil, fmt.Errorf("--run-time %q: %v", runTime, err)
		}
		c.RunTime = d
	}
	d, err := parseDuration(pause)
	if err != nil {
		return nil, fmt.Errorf("--pause %q: %v", pause, err)
	}
	c.Pause = d
	switch f.cpus {
	case "":
		c.CPUs = runner.DefaultCPUs()
	case "none":
	default:
		if c.CPUs, err = runner.ParseCPUs(f.cpus); err != nil {
			return nil, err
		}
	}
	if set["models"] {
		for _, m := range strings.Split(f.models, ",") {
			if m = strings.TrimSpace(m); m != "" {
				c.Models = append(c.Models, m)
			}
		}
		if len(c.Models) == 0 {
			return nil, fmt.Errorf("--models %q names no model", f.models)
		}
	}
	// Everything but the models and folders can be checked now; the
	// models are checked against bin/target's list later.
	check := *c
	if len(check.Models) == 0 {
		check.Models = []string{"-"}
	}
	check.Out = "-"
	if err := check.Validate(); err != nil {
		return nil, err
	}
	return f, nil
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

func runMain(ctx context.Context, args []string, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(stderr, runUsage)
			return 0
		}
	}
	f, err := parseRunFlags(args)
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
	_, err = runner.Run(ctx, cfg, runner.Options{
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
		fmt.Fprintf(stderr, "lab run: what was measured is in %s\n", cfg.Out)
		return 1
	}
	return 0
}

// resolveDirs fills --bin, --repo and --out defaults.
func resolveDirs(c *runner.Config) error {
	if c.BinDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding bin/: %v (pass --bin DIR)", err)
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
				return fmt.Errorf("%v; pass --repo DIR", err)
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
