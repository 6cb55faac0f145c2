package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"serverlab/lab/locustcsv"
	"strconv"
	"strings"
	"time"

	"serverlab/internal/locusts"
	"serverlab/lab/meta"
)

// ErrInterrupted is Run's error when its context was cancelled: what was
// measured until then is kept.
var ErrInterrupted = errors.New("interrupted")

// Options are how Run talks to its caller.
type Options struct {
	Preset   string    // recorded in meta.json
	Progress io.Writer // status lines; nil: none
	TTY      bool      // Progress is a terminal: rewrite the status line in place
	// Locust, if set, is the master to run; else ChooseLocust picks it
	// from the Config.
	Locust *Choice
	// Report, if set, makes the comparison report in dir from the runs
	// (files' prefixes) that produced statistics.
	Report func(dir string, runs []string) error
}

// Timing margins around Locust's own run time.
const (
	targetReady   = 30 * time.Second // race-detector builds start slowly
	masterReady   = 60 * time.Second // for a master to take workers: Python imports, on a busy machine
	workersQuit   = 10 * time.Second // after the master quit them
	stopGrace     = 10 * time.Second // SIGTERM to SIGKILL
	masterMargin  = 90 * time.Second // past -t before the master is stopped by force
	firstRequests = 45 * time.Second // for workers to connect and the first requests to end
	progressEvery = 2 * time.Second
)

// ListModels asks bin/target for its models, in its order.
func ListModels(binDir string) ([]string, error) {
	bin := filepath.Join(binDir, "target")
	out, err := exec.Command(bin, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", bin, err)
	}
	var models []string
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(line, "\t")
		if name = strings.TrimSpace(name); name != "" {
			models = append(models, name)
		}
	}
	if len(models) == 0 {
		return nil, fmt.Errorf("%s --list printed no models", bin)
	}
	return models, nil
}

// step is one model run in one --on-emfile mode, by one generator, at
// one spawn rate, one of --repeat.
type step struct {
	label     string // the files' prefix and the report's row
	model     string
	onEMFILE  string // "" when bin/target has no such flag
	generator string // go or python
	spawnRate float64
	repeat    int // 1..Repeat
}

// plan lists the runs: each model once per --on-emfile mode, generator,
// spawn rate and repeat, a model's runs one after the other. A run is
// named for its model, followed by what tells its runs apart when there
// are several: MODEL[-MODE][-GENERATOR][-rampRATE][-runN].
func plan(cfg *Config, f features) []step {
	modes := cfg.onEMFILE()
	if !f.onEMFILE {
		modes = []string{""}
	}
	gens, rates, n := cfg.generators(), cfg.spawnRates(), cfg.repeat()
	var steps []step
	for _, m := range cfg.Models {
		for _, mode := range modes {
			for _, g := range gens {
				for _, rate := range rates {
					for k := 1; k <= n; k++ {
						s := step{label: m, model: m, onEMFILE: mode, generator: g, spawnRate: rate, repeat: k}
						if len(modes) > 1 {
							s.label += "-" + mode
						}
						if len(gens) > 1 {
							s.label += "-" + g
						}
						if len(rates) > 1 {
							s.label += "-ramp" + strconv.FormatFloat(rate, 'g', -1, 64)
						}
						if n > 1 {
							s.label += "-run" + strconv.Itoa(k)
						}
						steps = append(steps, s)
					}
				}
			}
		}
	}
	return steps
}

// Run runs every model of cfg, one after another, and writes cfg.Out. A
// model that fails is recorded and the next one runs; the error then names
// every failed run and why it failed.
func Run(ctx context.Context, cfg Config, opt Options) (*meta.Meta, error) {
	r, err := prepare(cfg, opt)
	if err != nil {
		return nil, err
	}
	failed, interrupted := r.runAll(ctx)
	return r.finish(failed, interrupted)
}

type run struct {
	cfg        Config
	opt        Options
	pr         *progress
	locust     Choice
	locustfile string
	features   features
	steps      []step
	meta       *meta.Meta
	started    time.Time
}

// prepare checks everything a run needs before its folder is made, then
// makes it and writes the first meta.json.
func prepare(cfg Config, opt Options) (*run, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, b := range []string{"target", "boomer"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, b)); err != nil {
			return nil, fmt.Errorf("%s not found: build it (make build) or pass --bin DIR: %w", filepath.Join(cfg.BinDir, b), err)
		}
	}
	locustfile := filepath.Join(cfg.Repo, "locustfile.py")
	if _, err := os.Stat(locustfile); err != nil {
		return nil, fmt.Errorf("locustfile: %w", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, meta.File)); err == nil {
		return nil, fmt.Errorf("%s already holds a run (meta.json): choose another --out", cfg.Out)
	}
	pr := &progress{w: io.Discard}
	if opt.Progress != nil {
		pr = &progress{w: opt.Progress, tty: opt.TTY}
	}
	var loc Choice
	if opt.Locust != nil {
		loc = *opt.Locust
	} else {
		var err error
		if loc, err = ChooseLocust(cfg.Repo, cfg.Locust, pr.w); err != nil {
			return nil, err
		}
	}
	f, err := detect(loc.Locust, locustfile, filepath.Join(cfg.BinDir, "target"), cfg.Models[0])
	if err != nil {
		return nil, err
	}
	if err := f.check(&cfg); err != nil {
		return nil, err
	}
	if cfg.Generator == "python" || cfg.Generator == "both" {
		loc.Workers = loc.Locust
		if !atLeast(loc.Version, "2.13") {
			// Debian's build reports an empty version, and its master
			// refuses its own workers; PyPI's build of the same version
			// (scripts/setup.sh) is let in.
			w, err := locusts.PyPIWorkers(cfg.Repo, loc.Version)
			if err != nil {
				return nil, fmt.Errorf("--generator %s: Locust %s's own Python workers cannot join its master, and its PyPI build is missing: %v", cfg.Generator, loc.Version, err)
			}
			loc.Workers = w
		}
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	if cfg.shaped() {
		if locustfile, err = writeSweepLocustfile(&cfg); err != nil {
			return nil, err
		}
	}
	r := &run{cfg: cfg, opt: opt, pr: pr, locust: loc, locustfile: locustfile, features: f, steps: plan(&cfg, f)}
	r.meta = newMeta(&cfg, f, opt.Preset, time.Now())
	r.meta.Locust = meta.Locust{Path: loc.Path, Version: loc.Version, Chosen: loc.From}
	if err := r.meta.Write(cfg.Out); err != nil {
		return nil, err
	}
	runs := fmt.Sprintf("%d models", len(cfg.Models))
	if len(r.steps) != len(cfg.Models) {
		runs = fmt.Sprintf("%d runs (%d models)", len(r.steps), len(cfg.Models))
	}
	load := fmt.Sprintf("%s each, %d %s users (spawn rate %g)", cfg.RunTime, cfg.Users, cfg.UserClass, cfg.SpawnRate)
	if len(cfg.Sweep) > 0 {
		load = fmt.Sprintf("a sweep of %s %s (%s each, spawn rate %g: about %s a run)",
			joinInts(cfg.Sweep, ","), cfg.UserClass, cfg.RunTime, cfg.SpawnRate, cfg.loadTime().Round(time.Second))
	}
	if len(cfg.SweepRPS) > 0 {
		load = fmt.Sprintf("a rate sweep of %s requests a second (%s each, a pool of %d %s users spawned at %g: about %s a run)",
			joinFloats(cfg.SweepRPS, ","), cfg.RunTime, cfg.Users, cfg.UserClass, cfg.SpawnRate, cfg.loadTime().Round(time.Second))
	}
	pr.line("lab: %s, %s, %s; results in %s", runs, load, r.setup(), cfg.Out)
	pr.line("lab: Locust %s: %s (%s)", loc.Version, loc.Path, loc.describe())
	return r, nil
}

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}

// setup says what the users' timeouts and the targets' EMFILE mode are.
func (r *run) setup() string {
	p := r.meta.Parameters
	s := "the locustfile has no timeouts"
	if p.ConnectTimeout != nil {
		s = fmt.Sprintf("timeouts connect %gs, response %gs", *p.ConnectTimeout, *p.ResponseTimeout)
	}
	if len(p.OnEMFILE) > 0 {
		return s + ", on EMFILE " + strings.Join(p.OnEMFILE, " and ")
	}
	return s + ", bin/target has no --on-emfile"
}

// runAll runs the steps in order until done or interrupted; it returns the
// failed runs, each with why.
func (r *run) runAll(ctx context.Context) (failed []string, interrupted bool) {
	for i, s := range r.steps {
		if i > 0 && r.cfg.Pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(r.cfg.Pause):
			}
		}
		if ctx.Err() != nil {
			return failed, true
		}
		mr := r.model(ctx, i, s)
		r.meta.Runs = append(r.meta.Runs, mr)
		r.meta.Write(r.cfg.Out)
		if ctx.Err() != nil {
			return failed, true
		}
		switch {
		case mr.LostWorker != "":
			// Measured, but cut short: not "done", and not the model's failure.
			failed = append(failed, s.label+" ("+mr.Error+")")
			r.pr.line("lab: %s %s; measured until then: %d requests, %d failures", s.label, mr.Error, mr.Requests, mr.Failures)
		case mr.Error != "":
			failed = append(failed, s.label+" ("+mr.Error+")")
			r.pr.line("lab: %s failed: %s", s.label, mr.Error)
		default:
			r.pr.line("lab: %s done: %d requests, %d failures", s.label, mr.Requests, mr.Failures)
		}
	}
	return failed, false
}

// finish writes the report and the last meta.json.
func (r *run) finish(failed []string, interrupted bool) (*meta.Meta, error) {
	var errs []string
	if len(failed) > 0 {
		errs = append(errs, "failed: "+strings.Join(failed, "; "))
	}
	if r.opt.Report != nil {
		if measured := r.measured(); len(measured) > 0 {
			if err := r.opt.Report(r.cfg.Out, measured); err != nil {
				errs = append(errs, "report: "+err.Error())
			}
		} else {
			errs = append(errs, "no model produced statistics, so no report")
		}
	}
	end := time.Now()
	r.meta.Ended = &end
	r.meta.Interrupted = interrupted
	r.meta.Error = strings.Join(errs, "; ")
	if err := r.meta.Write(r.cfg.Out); err != nil {
		errs = append(errs, err.Error())
	}
	switch {
	case interrupted:
		if Measured(r.cfg.Out) {
			r.pr.line("lab: interrupted; what was measured is in %s", r.cfg.Out)
		} else {
			r.pr.line("lab: interrupted before anything was measured")
		}
		return r.meta, ErrInterrupted
	case len(errs) > 0:
		return r.meta, errors.New(strings.Join(errs, "; "))
	}
	r.pr.line("lab: results in %s", r.cfg.Out)
	return r.meta, nil
}

// measured are the runs whose stats CSV exists and counts a request, in
// run order.
func (r *run) measured() []string {
	var out []string
	for _, mr := range r.meta.Runs {
		if mr.Requests == 0 {
			continue
		}
		if _, err := os.Stat(filepath.Join(r.cfg.Out, mr.Label()+locustcsv.StatsSuffix)); err == nil {
			out = append(out, mr.Label())
		}
	}
	return out
}

// Choice is the Locust that runs the master, and where the choice came
// from.
type Choice struct {
	locusts.Locust
	From string // "pinned", "--locust" or "LAB_LOCUST"
	// Workers runs the Python workers (--generator python): the master's
	// Locust, or for Debian's 2.12.1 the same version from PyPI.
	Workers locusts.Locust
}

// Measured reports whether dir holds a Locust stats CSV: only then is there
// something to point a user at after a failed or interrupted run.
func Measured(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*_stats.csv"))
	return len(m) > 0
}
