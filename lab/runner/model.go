package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"serverlab/internal/launch"
	"serverlab/lab/locustcsv"
	"serverlab/lab/meta"
)

// mastersLastWords is how long a master may run on after every worker
// has gone.
const mastersLastWords = 15 * time.Second

// modelRun is one model's run while it happens: its processes, where they
// listen and what has been seen of them.
type modelRun struct {
	*run
	ctx   context.Context
	i     int
	step  step
	base  string // the files' prefix in OUT
	mr    meta.ModelRun
	procs []*proc // in start order

	target, master *proc
	workers        []*proc
	addr, admin    string
	port           int
	live           *liveStats
	samples        *sampler
	cpu            cpuClock
}

// model runs one model from a clean start: a fresh target, a fresh master,
// fresh workers; everything is stopped before it returns, and the first
// step that failed is the run's error.
func (r *run) model(ctx context.Context, i int, s step) meta.ModelRun {
	m := &modelRun{run: r, ctx: ctx, i: i, step: s, base: filepath.Join(r.cfg.Out, s.label),
		live: &liveStats{}}
	m.mr = meta.ModelRun{Model: s.model, OnEMFILE: s.onEMFILE, Generator: s.generator, Started: time.Now(), MasterExit: -1}
	if len(r.cfg.SpawnRates) > 0 {
		m.mr.SpawnRate = s.spawnRate
	}
	if r.cfg.repeat() > 1 {
		m.mr.Repeat = s.repeat
	}
	if s.label != s.model {
		m.mr.Name = s.label
	}
	if r.started.IsZero() {
		r.started = m.mr.Started
	}
	defer m.stopAll()
	defer func() { m.samples.closeSeries() }()
	if err := m.runSteps(); err != nil {
		m.mr.Error = err.Error()
	}
	m.stopAll()
	m.mr.Ended = time.Now()
	m.mr.Files = r.files(s.label)
	if ctx.Err() != nil && m.mr.Error == "" && !m.mr.Completed {
		m.mr.Error = "interrupted"
	}
	return m.mr
}

// runSteps starts the processes, watches the run and collects what it left;
// what was measured is collected even when the run ended early.
func (m *modelRun) runSteps() error {
	for _, start := range []func() error{m.startTarget, m.startMaster, m.startWorkers} {
		if err := start(); err != nil {
			return err
		}
	}
	werr := m.watch()
	cerr := m.collect()
	switch {
	case werr != nil:
		return werr
	case cerr != nil:
		return cerr
	}
	if err := m.verdict(); err != nil {
		return err
	}
	return m.lostWorker()
}

// lostWorker is the run's error when the master stopped the test because
// its last worker went missing: what was measured is kept, but the run
// ended early, and not because of the model. Only the load generator's
// heartbeats stopped (Locust's master gives a worker 4 to 5 s).
func (m *modelRun) lostWorker() error {
	missing, ended := m.live.lost()
	if !ended {
		return nil
	}
	where := ""
	if m.cfg.shaped() {
		done := 0
		if steps, err := locustcsv.ReadSteps(m.base + locustcsv.StepsSuffix); err == nil {
			done = len(steps)
		}
		switch n, r := len(m.cfg.Sweep), len(m.cfg.SweepRPS); {
		case done < n:
			where = fmt.Sprintf(" during step %d of %d (%d users)", done+1, n, m.cfg.Sweep[done])
		case done < r:
			where = fmt.Sprintf(" during step %d of %d (%g requests a second)", done+1, r, m.cfg.SweepRPS[done])
		}
	}
	m.mr.LostWorker = fmt.Sprintf("the Locust master heard no heartbeat from its last worker in time and stopped the test%s: "+
		"the load generator was lost, not the model", where)
	if missing > 1 {
		m.mr.LostWorker += fmt.Sprintf(" (%d workers went missing)", missing)
	}
	if words := m.lateBeats(); len(words) > 0 {
		m.mr.LostWorker += "; " + strings.Join(words, "; ")
	}
	return fmt.Errorf("ended early: %s (see %s and the workers' logs)", m.mr.LostWorker, m.base+".locust.log")
}

// stopAll stops in reverse order of start: load first, then the target.
func (m *modelRun) stopAll() {
	for j := len(m.procs) - 1; j >= 0; j-- {
		m.procs[j].stop(stopGrace)
	}
	m.procs = nil
}

// startTarget starts bin/target and waits until it listens.
func (m *modelRun) startTarget() error {
	cfg := &m.cfg
	logPath := m.base + ".target.log"
	cmd := exec.Command(filepath.Join(cfg.BinDir, "target"), targetArgs(cfg, m.step)...)
	cmd.Dir = cfg.Repo
	target, err := start("target", cmd, logPath, nil, &cfg.CPUs.Target)
	if err != nil {
		return err
	}
	m.procs = append(m.procs, target)
	m.target = target
	m.mr.TargetPID = target.cmd.Process.Pid
	if m.addr, m.admin, err = waitReady(m.ctx, target, logPath); err != nil {
		return err
	}
	m.mr.TargetAddr = m.addr
	m.samples = &sampler{admin: m.admin, peaks: map[string]float64{}, loadCPUs: cpuIDs(&cfg.CPUs.Load)}
	if err := m.samples.openSeries(m.base+ServerSeriesSuffix, m.mr.TargetPID); err != nil {
		return err
	}
	m.samples.sample()
	return nil
}

// startMaster starts the headless Locust master and waits until it takes
// workers: a worker started sooner waits out its reconnect back-off.
func (m *modelRun) startMaster() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	m.port = port
	cmd := exec.Command(m.locust.Path, masterArgs(&m.cfg, m.features, m.locustfile, m.base, m.addr, m.admin, port, m.step)...)
	cmd.Dir = m.cfg.Repo
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	master, err := start("locust master", cmd, m.base+".locust.log", m.live.onLine, &m.cfg.CPUs.Load)
	if err != nil {
		return err
	}
	m.procs = append(m.procs, master)
	m.master = master
	m.samples.master = master.cmd.Process.Pid
	switch err := master.lp.Await(m.ctx, masterReady, launch.Master(port)); {
	case m.ctx.Err() != nil:
		return ErrInterrupted
	case errors.Is(err, launch.ErrExited):
		master.waitOutput(2 * time.Second)
		return fmt.Errorf("the Locust master exited (%s): %s", master.describe(), errorWords(m.base+".locust.log"))
	case err != nil:
		return fmt.Errorf("the Locust master: %w: %s", err, lastWords(m.base+".locust.log"))
	}
	// The target's CPU time is measured over the load: from the first
	// requests seen to the master's end (from here, if none are seen).
	m.cpu.start(m.mr.TargetPID)
	return nil
}

// workerLog is worker w's log file.
func (m *modelRun) workerLog(w int) string {
	if m.step.generator == "python" {
		return fmt.Sprintf("%s.worker-%d.log", m.base, w)
	}
	return fmt.Sprintf("%s.boomer-%d.log", m.base, w)
}

// startWorkers starts the workers, which connect to the master: Go
// workers, or Locust's own running the locustfile's HttpUsers.
func (m *modelRun) startWorkers() error {
	for w := 1; w <= m.cfg.Workers; w++ {
		name := fmt.Sprintf("boomer %d", w)
		cmd := exec.Command(filepath.Join(m.cfg.BinDir, "boomer"), workerArgs(&m.cfg, m.port)...)
		if m.step.generator == "python" {
			name = fmt.Sprintf("locust worker %d", w)
			cmd = exec.Command(m.locust.Workers.Path, pythonWorkerArgs(m.locustfile, m.port)...)
			cmd.Dir = m.cfg.Repo
			cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
		}
		wp, err := start(name, cmd, m.workerLog(w), nil, &m.cfg.CPUs.Load)
		if err != nil {
			return err
		}
		m.procs = append(m.procs, wp)
		m.workers = append(m.workers, wp)
		m.samples.workers = append(m.samples.workers, wp.cmd.Process.Pid)
	}
	return nil
}

// current is the latest aggregate, from whichever source is ahead: the
// console table comes every 2 s, the history file's rows every few
// seconds (and Debian's 2.12.1 may never write one past its first).
func (m *modelRun) current() Live {
	v := m.live.get()
	if p, ok := locustcsv.LastPoint(m.base + locustcsv.HistorySuffix); ok && (!v.Seen || int64(p.Requests) > v.Requests) {
		v = Live{Requests: int64(p.Requests), Failures: int64(p.Failures), RPS: p.RPS, FailRPS: p.FailuresPerSec, Users: p.Users, Seen: true}
	}
	return v
}

// watch shows progress until the master ends the run by itself, or
// something ends it first: an interrupt, the target or every worker
// gone, no requests at all, or a master that overstays.
func (m *modelRun) watch() error {
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	deadline := time.NewTimer(m.cfg.loadTime() + m.cfg.overrun())
	defer deadline.Stop()
	var workersGone <-chan time.Time
	loadStart := time.Now()
	planned := time.Duration(len(m.steps)) * m.cfg.loadTime()
	// The model's clock starts with its first requests, as Locust's -t
	// starts once the workers are there.
	var firstSeen time.Time
	status := func() {
		v := m.current()
		var elapsed time.Duration
		if v.Requests > 0 {
			if firstSeen.IsZero() {
				firstSeen = time.Now().Add(-progressEvery)
				m.cpu.start(m.mr.TargetPID)
			}
			elapsed = time.Since(firstSeen)
		}
		m.pr.update(statusLine(m.i+1, len(m.steps), m.step.label, elapsed, m.cfg.loadTime(),
			time.Since(m.started), planned, v))
	}
	defer func() {
		m.mr.CPU = m.cpu.stop(m.mr.TargetPID)
		status()
		m.pr.end()
	}()
	status()
	for {
		var err error
		select {
		case <-m.master.done:
			return nil
		case <-m.ctx.Done():
			// Locust writes its CSVs and HTML on SIGTERM too.
		case <-deadline.C:
			err = fmt.Errorf("the Locust master was still running %s after its run time; stopped", m.cfg.overrun())
		case <-m.target.done:
			// Its last words may still be on their way to the log.
			m.target.waitOutput(2 * time.Second)
			err = fmt.Errorf("target exited during the run (%s): %s", m.target.describe(), lastWords(m.base+".target.log"))
		case <-workersGone:
			m.workers[0].waitOutput(2 * time.Second)
			err = fmt.Errorf("every worker exited before the master ended the run: %s", lastWords(m.workerLog(1)))
		case <-tick.C:
			m.samples.sample()
			status()
			if v := m.current(); (!v.Seen || v.Requests == 0) && time.Since(loadStart) > firstRequests {
				err = fmt.Errorf("no request done %s after the master started: %s", firstRequests, lastWords(m.base+".locust.log"))
			} else {
				if workersGone == nil && allExited(m.workers) {
					// The master waits for workers forever: give it
					// time to notice and write its files (the HTML
					// report takes seconds on a busy machine), then
					// give up on it.
					workersGone = time.After(mastersLastWords)
				}
				continue
			}
		}
		m.master.stop(stopGrace)
		return err
	}
}

// collect gathers what the run left: the master's exit, the workers'
// end, the target's last metrics and the totals.
func (m *modelRun) collect() error {
	m.master.waitOutput(2 * time.Second)
	m.mr.MasterExit = m.master.exitCode()
	// Workers quit when the master tells them to.
	quit := time.After(workersQuit)
	for _, w := range m.workers {
		select {
		case <-w.done:
		case <-quit:
		}
	}
	m.samples.sample()
	m.samples.closeSeries()
	m.samples.record(&m.mr, m.base+".metrics.txt")
	if req, fail, err := locustcsv.Totals(m.base + locustcsv.StatsSuffix); err == nil {
		m.mr.Requests, m.mr.Failures = int64(req), int64(fail)
	} else if p, ok := locustcsv.LastPoint(m.base + locustcsv.HistorySuffix); ok {
		m.mr.Requests, m.mr.Failures = int64(p.Requests), int64(p.Failures)
	} else if v := m.live.get(); v.Seen {
		m.mr.Requests, m.mr.Failures = v.Requests, v.Failures
	}
	if m.ctx.Err() != nil {
		return ErrInterrupted
	}
	return nil
}

// verdict says whether the run measured something. Locust exits 1 when
// any request failed: that is a measurement, not a broken run. Anything
// else, or no statistics, is.
func (m *modelRun) verdict() error {
	if _, err := os.Stat(m.base + locustcsv.StatsSuffix); err != nil || (m.mr.MasterExit != 0 && m.mr.MasterExit != 1) {
		return fmt.Errorf("the Locust master ended with %s and no statistics: %s", m.master.describe(), lastWords(m.base+".locust.log"))
	}
	if m.mr.Requests == 0 { // collect read them from the stats
		return fmt.Errorf("no request finished: the run measured nothing (%s)", lastWords(m.base+".locust.log"))
	}
	for j, w := range m.workers {
		if w.exited() && w.exitCode() != 0 {
			return fmt.Errorf("worker %d ended with %s: %s", j+1, w.describe(), lastWords(m.workerLog(j+1)))
		}
	}
	m.mr.Completed = true
	return nil
}

// lateBeatWords begin what a Go worker logs when its heartbeats went out
// late, with what it did meanwhile (busy, kept from a CPU, or neither).
const lateBeatWords = "no heartbeat went to the master for"

// lateBeats is, for each Go worker, the first such line of its log with a
// gap the master does not wait out (masterPatience), else its last one:
// "worker N: ...". Gaps after the loss (a starved worker stopping its
// users) would tell less.
func (m *modelRun) lateBeats() []string {
	patience := m.masterPatience()
	var out []string
	for j := range m.workers {
		pick := ""
		for _, l := range strings.Split(tail(m.workerLog(j+1), 200), "\n") {
			i := strings.Index(l, `msg="`+lateBeatWords)
			if i < 0 {
				continue
			}
			q, err := strconv.QuotedPrefix(l[i+len("msg="):])
			if err != nil {
				continue
			}
			s, err := strconv.Unquote(q)
			if err != nil {
				continue
			}
			gap, _, _ := strings.Cut(strings.TrimPrefix(s, lateBeatWords+" "), " ")
			if d, err := time.ParseDuration(gap); err == nil && d >= patience {
				pick = s
				break
			}
			pick = s
		}
		if pick != "" {
			out = append(out, fmt.Sprintf("worker %d: %s", j+1, pick))
		}
	}
	return out
}

// masterPatience is the shortest heartbeat gap after which the run's
// master declares a worker missing: it counts missed beats once a second
// and gives up past its liveness, Locust's 3 or a sweep's
// SweepHeartbeatLiveness, so one second more.
func (m *modelRun) masterPatience() time.Duration {
	beats := 3
	if m.cfg.shaped() {
		beats = SweepHeartbeatLiveness
	}
	return time.Duration(beats+1) * time.Second
}

// waitReady waits for the target's ready line.
func waitReady(ctx context.Context, target *proc, logPath string) (addr, admin string, err error) {
	err = target.lp.Await(ctx, targetReady, launch.Target())
	switch {
	case err == nil:
		return target.lp.Ready.Addr, target.lp.Ready.Admin, nil
	case errors.Is(err, launch.ErrExited):
		target.waitOutput(2 * time.Second)
		return "", "", fmt.Errorf("target ended before listening (%s): %s", target.describe(), lastWords(logPath))
	case errors.Is(err, launch.ErrTimeout):
		return "", "", fmt.Errorf("target not listening after %s: %s", targetReady, lastWords(logPath))
	case ctx.Err() != nil:
		return "", "", ErrInterrupted
	default:
		return "", "", fmt.Errorf("target: %w", err)
	}
}

// lastWords is a process's last log line, which says why it ended, and
// where the rest is: one line for the console and meta.json.
func lastWords(logPath string) string {
	last := ""
	for _, l := range strings.Split(tail(logPath, 20), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			last = l
		}
	}
	if last == "" {
		return "nothing in " + logPath
	}
	const max = 300
	if len(last) > max {
		last = last[:max] + "..."
	}
	return last + " (see " + logPath + ")"
}

func allExited(ps []*proc) bool {
	for _, p := range ps {
		if !p.exited() {
			return false
		}
	}
	return len(ps) > 0
}

// files are the run's files in OUT, by name.
func (r *run) files(label string) []string {
	var out []string
	for _, pat := range []string{label + "_*", label + ".*"} {
		m, _ := filepath.Glob(filepath.Join(globEscape(r.cfg.Out), pat))
		for _, p := range m {
			out = append(out, filepath.Base(p))
		}
	}
	sort.Strings(out)
	return out
}

func globEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`).Replace(s)
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
