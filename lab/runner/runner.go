package runner

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"serverlab/internal/locusts"
)

// ErrInterrupted is Run's error when its context was cancelled: what was
// measured until then is kept.
var ErrInterrupted = errors.New("interrupted")

// Options are how Run talks to its caller.
type Options struct {
	Preset   string    // recorded in meta.json
	Progress io.Writer // status lines; nil: none
	TTY      bool      // Progress is a terminal: rewrite the status line in place
	Locust   *locusts.Locust
	// Report, if set, makes the comparison report in dir from the models
	// whose runs produced statistics.
	Report func(dir string, models []string) error
}

// Timing margins around Locust's own run time.
const (
	targetReady   = 30 * time.Second // race-detector builds start slowly
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
		return nil, fmt.Errorf("%s --list: %v", bin, err)
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

// Run runs every model of cfg, one after another, and writes cfg.Out. A
// model that fails is recorded and the next one runs; the error then names
// every failed model.
func Run(ctx context.Context, cfg Config, opt Options) (*Meta, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, b := range []string{"target", "boomer"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, b)); err != nil {
			return nil, fmt.Errorf("%s not found: build it (make build) or pass --bin DIR", filepath.Join(cfg.BinDir, b))
		}
	}
	locustfile := filepath.Join(cfg.Repo, "locustfile.py")
	if _, err := os.Stat(locustfile); err != nil {
		return nil, fmt.Errorf("locustfile: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, "meta.json")); err == nil {
		return nil, fmt.Errorf("%s already holds a run (meta.json): choose another --out", cfg.Out)
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	pr := &progress{w: io.Discard}
	if opt.Progress != nil {
		pr = &progress{w: opt.Progress, tty: opt.TTY}
	}
	var loc locusts.Locust
	if opt.Locust != nil {
		loc = *opt.Locust
	} else {
		l, err := FindLocust(cfg.Repo, pr.w)
		if err != nil {
			return nil, err
		}
		loc = l
	}

	r := &run{cfg: cfg, opt: opt, pr: pr, locust: loc, locustfile: locustfile,
		passTarget: mentions(locustfile, `"--target"`)}
	r.meta = newMeta(&cfg, opt.Preset, time.Now())
	r.meta.Locust = Software{Path: loc.Path, Version: loc.Version}
	if err := r.meta.write(cfg.Out); err != nil {
		return nil, err
	}
	pr.line("lab: %d models, %s each, %d %s users (spawn rate %g), Locust %s, results in %s",
		len(cfg.Models), cfg.RunTime, cfg.Users, cfg.UserClass, cfg.SpawnRate, loc.Version, cfg.Out)

	var failed []string
	interrupted := false
	for i, m := range cfg.Models {
		if i > 0 && cfg.Pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(cfg.Pause):
			}
		}
		if ctx.Err() != nil {
			interrupted = true
			break
		}
		mr := r.model(ctx, i, m)
		r.meta.Runs = append(r.meta.Runs, mr)
		r.meta.write(cfg.Out)
		if ctx.Err() != nil {
			interrupted = true
			break
		}
		if mr.Error != "" {
			failed = append(failed, m)
			pr.line("lab: %s: %s", m, mr.Error)
		} else {
			pr.line("lab: %s done: %d requests, %d failures", m, mr.Requests, mr.Failures)
		}
	}

	var errs []string
	if len(failed) > 0 {
		errs = append(errs, "failed: "+strings.Join(failed, ", "))
	}
	if opt.Report != nil {
		if measured := r.measured(); len(measured) > 0 {
			if err := opt.Report(cfg.Out, measured); err != nil {
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
	if err := r.meta.write(cfg.Out); err != nil {
		errs = append(errs, err.Error())
	}
	switch {
	case interrupted:
		pr.line("lab: interrupted; what was measured is in %s", cfg.Out)
		return r.meta, ErrInterrupted
	case len(errs) > 0:
		return r.meta, errors.New(strings.Join(errs, "; "))
	}
	pr.line("lab: results in %s", cfg.Out)
	return r.meta, nil
}

type run struct {
	cfg        Config
	opt        Options
	pr         *progress
	locust     locusts.Locust
	locustfile string
	passTarget bool // the locustfile has the --target option
	meta       *Meta
	started    time.Time
}

// measured are the models whose stats CSV exists, in run order.
func (r *run) measured() []string {
	var out []string
	for _, mr := range r.meta.Runs {
		if _, err := os.Stat(filepath.Join(r.cfg.Out, mr.Model+"_stats.csv")); err == nil {
			out = append(out, mr.Model)
		}
	}
	return out
}

// model runs one model from a clean start: a fresh target, a fresh master,
// fresh workers; everything is stopped before it returns.
func (r *run) model(ctx context.Context, i int, model string) (mr ModelRun) {
	cfg := r.cfg
	mr = ModelRun{Model: model, Started: time.Now(), MasterExit: -1}
	if r.started.IsZero() {
		r.started = mr.Started
	}
	var procs []*proc
	defer func() {
		// Stop in reverse order of start: load first, then the target.
		for j := len(procs) - 1; j >= 0; j-- {
			procs[j].stop(stopGrace)
		}
		mr.Ended = time.Now()
		mr.Files = r.files(model)
		if ctx.Err() != nil && mr.Error == "" && !mr.Completed {
			mr.Error = "interrupted"
		}
	}()
	base := filepath.Join(cfg.Out, model)

	// The target.
	targetLog := base + ".target.log"
	ready := make(chan string, 4)
	args := []string{"--model", model, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--docroot", filepath.Join(cfg.Repo, "targets", "www")}
	if cfg.MaxFDs > 0 {
		args = append(args, "--max-fds", strconv.Itoa(cfg.MaxFDs))
	}
	if cfg.Pool > 0 {
		args = append(args, "--workers", strconv.Itoa(cfg.Pool))
	}
	tcmd := exec.Command(filepath.Join(cfg.BinDir, "target"), args...)
	tcmd.Dir = cfg.Repo
	target, err := start("target", tcmd, targetLog,
		func(line string) {
			if strings.HasPrefix(line, "admin on ") || strings.HasPrefix(line, "listening on ") {
				select {
				case ready <- line:
				default:
				}
			}
		}, &cfg.CPUs.Target)
	if err != nil {
		mr.Error = err.Error()
		return mr
	}
	procs = append(procs, target)
	mr.TargetPID = target.cmd.Process.Pid
	addr, admin, err := waitReady(ctx, target, ready, targetLog)
	if err != nil {
		mr.Error = err.Error()
		return mr
	}
	mr.TargetAddr = addr

	// The target's gauges, sampled while the load runs.
	peaks := map[string]float64{}
	var final map[string]float64
	var finalText string
	sample := func() {
		if admin == "" {
			return
		}
		if text, s, err := scrape(admin); err == nil {
			mergePeaks(peaks, s)
			final, finalText = s, text
		}
	}
	sample()

	// The master.
	port, err := freePort()
	if err != nil {
		mr.Error = err.Error()
		return mr
	}
	margs := []string{"-f", r.locustfile, "--master", "--headless",
		"--expect-workers", strconv.Itoa(cfg.Workers),
		"-u", strconv.Itoa(cfg.Users), "-r", strconv.FormatFloat(cfg.SpawnRate, 'g', -1, 64),
		"-t", locustRunTime(cfg.RunTime),
		"--csv", base, "--csv-full-history", "--html", base + ".html",
		"--host", "http://" + addr,
		"--master-bind-host", "127.0.0.1", "--master-bind-port", strconv.Itoa(port),
	}
	if r.passTarget {
		margs = append(margs, "--target", model)
	}
	margs = append(margs, cfg.UserClass)
	live := &liveStats{}
	mcmd := exec.Command(r.locust.Path, margs...)
	mcmd.Dir = cfg.Repo
	mcmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	masterLog := base + ".locust.log"
	master, err := start("locust master", mcmd, masterLog, live.onLine, &cfg.CPUs.Load)
	if err != nil {
		mr.Error = err.Error()
		return mr
	}
	procs = append(procs, master)
	loadStart := time.Now()
	// The target's CPU time is measured over the load: from the first
	// requests seen to the master's end (from here, if none are seen).
	cpuFrom := time.Now()
	cpuStart, cpuErr := treeCPU(mr.TargetPID)

	// The workers.
	var workers []*proc
	for w := 1; w <= cfg.Workers; w++ {
		wargs := []string{"--master-host", "127.0.0.1", "--master-port", strconv.Itoa(port)}
		if cfg.MaxFDs > 0 {
			wargs = append(wargs, "--max-fds", strconv.Itoa(cfg.MaxFDs))
		}
		wp, err := start(fmt.Sprintf("boomer %d", w), exec.Command(filepath.Join(cfg.BinDir, "boomer"), wargs...),
			fmt.Sprintf("%s.boomer-%d.log", base, w), nil, &cfg.CPUs.Load)
		if err != nil {
			mr.Error = err.Error()
			return mr
		}
		procs = append(procs, wp)
		workers = append(workers, wp)
	}

	// Until the master ends the run by itself.
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	deadline := time.NewTimer(cfg.RunTime + masterMargin)
	defer deadline.Stop()
	var workersGone <-chan time.Time
	plan := time.Duration(len(cfg.Models)) * cfg.RunTime
	// The model's clock starts with its first requests, as Locust's -t
	// starts once the workers are there.
	var firstSeen time.Time
	// Two sources, whichever is ahead: the console table comes every 2 s,
	// the history file's rows every few seconds (and Debian's 2.12.1 may
	// never write one past its first).
	current := func() Live {
		v := live.get()
		if h, ok := lastHistory(base + "_stats_history.csv"); ok && (!v.Seen || h.Requests > v.Requests) {
			v = h
		}
		return v
	}
	status := func() {
		v := current()
		var elapsed time.Duration
		if v.Requests > 0 {
			if firstSeen.IsZero() {
				firstSeen = time.Now().Add(-progressEvery)
				if c, err := treeCPU(mr.TargetPID); err == nil {
					cpuFrom, cpuStart, cpuErr = time.Now(), c, nil
				}
			}
			elapsed = time.Since(firstSeen)
		}
		r.pr.update(statusLine(i+1, len(cfg.Models), model, elapsed, cfg.RunTime,
			time.Since(r.started), plan, v))
	}
	status()
wait:
	for {
		select {
		case <-master.done:
			break wait
		case <-ctx.Done():
			// Locust writes its CSVs and HTML on SIGTERM too.
			master.stop(stopGrace)
			break wait
		case <-deadline.C:
			mr.Error = fmt.Sprintf("the Locust master was still running %s after its run time; stopped", masterMargin)
			master.stop(stopGrace)
			break wait
		case <-target.done:
			mr.Error = fmt.Sprintf("target exited during the run (%s); see %s:\n%s", target.describe(), targetLog, tail(targetLog, 5))
			master.stop(stopGrace)
			break wait
		case <-workersGone:
			mr.Error = fmt.Sprintf("every worker exited before the master ended the run; see %s.boomer-1.log:\n%s", base, tail(base+".boomer-1.log", 5))
			master.stop(stopGrace)
			break wait
		case <-tick.C:
			sample()
			status()
			if v := current(); (!v.Seen || v.Requests == 0) && time.Since(loadStart) > firstRequests {
				mr.Error = fmt.Sprintf("no request done %s after the master started; see %s:\n%s", firstRequests, masterLog, tail(masterLog, 5))
				master.stop(stopGrace)
				break wait
			}
			if workersGone == nil && allExited(workers) {
				// The master waits for workers forever: give it a moment
				// to notice, then give up on it.
				workersGone = time.After(5 * time.Second)
			}
		}
	}
	if c, err := treeCPU(mr.TargetPID); err == nil && cpuErr == nil {
		mr.CPU = &CPUUse{Seconds: round3(c - cpuStart), Over: round3(time.Since(cpuFrom).Seconds())}
	}
	status()
	r.pr.end()
	master.waitOutput(2 * time.Second)
	mr.MasterExit = master.exitCode()

	// Workers quit when the master tells them to.
	quit := time.After(workersQuit)
	for _, w := range workers {
		select {
		case <-w.done:
		case <-quit:
		}
	}
	sample()
	if finalText != "" {
		os.WriteFile(base+".metrics.txt", []byte(finalText), 0o644)
	}
	if len(peaks) > 0 {
		mr.Peaks = peaks
	}
	if final != nil {
		mr.Final = map[string]float64{}
		for k, v := range final {
			if strings.HasSuffix(strings.SplitN(k, "{", 2)[0], "_total") {
				mr.Final[k] = v
			}
		}
	}
	if req, fail, ok := statsTotals(base + "_stats.csv"); ok {
		mr.Requests, mr.Failures = req, fail
	} else if v, ok := lastHistory(base + "_stats_history.csv"); ok {
		mr.Requests, mr.Failures = v.Requests, v.Failures
	} else if v := live.get(); v.Seen {
		mr.Requests, mr.Failures = v.Requests, v.Failures
	}
	if ctx.Err() != nil || mr.Error != "" {
		return mr
	}
	// Locust exits 1 when any request failed: that is a measurement, not
	// a broken run. Anything else, or no statistics, is.
	if _, err := os.Stat(base + "_stats.csv"); err != nil || (mr.MasterExit != 0 && mr.MasterExit != 1) {
		mr.Error = fmt.Sprintf("the Locust master ended with %s and no statistics; see %s:\n%s", master.describe(), masterLog, tail(masterLog, 8))
		return mr
	}
	for j, w := range workers {
		if w.exited() && w.exitCode() != 0 {
			mr.Error = fmt.Sprintf("worker %d ended with %s; see %s.boomer-%d.log", j+1, w.describe(), base, j+1)
			return mr
		}
	}
	mr.Completed = true
	return mr
}

var (
	listeningRE = regexp.MustCompile(`^listening on (\S+) \(model (\S+), pid (\d+)\)`)
	adminRE     = regexp.MustCompile(`^admin on (\S+)`)
)

// waitReady waits for the target's "listening on" line; the admin line, if
// any, comes before it.
func waitReady(ctx context.Context, target *proc, ready <-chan string, logPath string) (addr, admin string, err error) {
	timeout := time.After(targetReady)
	for {
		select {
		case line := <-ready:
			if m := adminRE.FindStringSubmatch(line); m != nil {
				admin = m[1]
				continue
			}
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				return m[1], admin, nil
			}
			return "", "", fmt.Errorf("target printed %q, not `listening on ADDR (model NAME, pid P)`", line)
		case <-target.done:
			return "", "", fmt.Errorf("target ended before listening (%s); see %s:\n%s", target.describe(), logPath, tail(logPath, 5))
		case <-timeout:
			return "", "", fmt.Errorf("target not listening after %s; see %s", targetReady, logPath)
		case <-ctx.Done():
			return "", "", ctx.Err()
		}
	}
}

func allExited(ps []*proc) bool {
	for _, p := range ps {
		if !p.exited() {
			return false
		}
	}
	return len(ps) > 0
}

// freePort is a loopback TCP port nobody listened on a moment ago, for the
// master's ZeroMQ socket (Locust takes a port number, not :0).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// files are the model's files in OUT, by name.
func (r *run) files(model string) []string {
	var out []string
	for _, pat := range []string{model + "_*", model + ".*"} {
		m, _ := filepath.Glob(filepath.Join(r.cfg.Out, pat))
		for _, p := range m {
			out = append(out, filepath.Base(p))
		}
	}
	sort.Strings(out)
	return out
}

// mentions says whether the file contains s.
func mentions(path, s string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(s)) {
			return true
		}
	}
	return false
}
