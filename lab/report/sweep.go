package report

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"serverlab/lab/locustcsv"
	"serverlab/lab/meta"
	"serverlab/lab/regular"
)

// ServiceLevel is what a step must meet to count as served: failures under
// MaxFailPct percent, p95 under MaxP95 milliseconds, and every user
// connected (the server held at least ConnectedShare of the users'
// connections: the others waited in the kernel's backlog, where Locust
// sees nothing until they time out).
type ServiceLevel struct {
	MaxFailPct     float64 `json:"max_failure_pct"`
	MaxP95         float64 `json:"max_p95_ms"`
	ConnectedShare float64 `json:"min_connected_share"`
}

// DefaultServiceLevel: under 1 % failures, p95 under a second, nine users
// in ten connected.
var DefaultServiceLevel = ServiceLevel{MaxFailPct: 1, MaxP95: 1000, ConnectedShare: 0.9}

// Generator-bound: over a step's window the server used less than
// ServerIdle percent of a core while the load generator was the limit:
// its busiest worker above GeneratorBusy percent of a core (where Locust's
// master warns); or the load CPUs that busy, whatever kept them busy,
// while the worker had work to do (above GeneratorWorking percent: a
// starved generator limits the load as a slow one does, an idle one does
// not); or, starved of a whole core, the worker above GeneratorBusy/2 and
// GeneratorRatio times the server's CPU. The worker's figure is its
// demand where its run-queue wait was measured: the time it ran plus the
// time it was ready to run and got no CPU, so that a generator starved by
// other processes (little CPU, long waits) counts for what it wanted,
// while an idle one (little CPU, short waits) stays idle. Either way more
// load would have needed more generator, not more server.
const (
	GeneratorBusy    = 90.0
	ServerIdle       = 70.0
	GeneratorRatio   = 4.0
	GeneratorWorking = 25.0
)

// A step is disturbed when the load generators' CPUs were at least
// DisturbedBusy percent busy while the busiest worker, the master and the
// server together used under DisturbedOwn percent of a core (the server
// counts in case the run was not pinned and its CPUs are the load's):
// something other than the run kept them busy (a build, another test),
// and the step's times measured that competition as much as the server.
const (
	DisturbedBusy = 90.0
	DisturbedOwn  = 50.0
)

func disturbed(s StepServer, gen float64) bool {
	own := gen
	for _, v := range []float64{s.MasterCPU, s.CPU} {
		if !math.IsNaN(v) {
			own += v
		}
	}
	return !math.IsNaN(s.LoadBusy) && !math.IsNaN(gen) && s.LoadBusy >= DisturbedBusy && own < DisturbedOwn
}

func generatorBound(gen, wait, loadBusy, server float64) bool {
	idle := math.IsNaN(server) || server < ServerIdle
	demand := gen
	if !math.IsNaN(wait) && !math.IsNaN(gen) {
		demand += wait
	}
	switch {
	case !idle:
		return false
	case demand > GeneratorBusy, loadBusy > GeneratorBusy && gen > GeneratorWorking:
		return true
	}
	return demand > GeneratorBusy/2 && !math.IsNaN(server) && demand >= GeneratorRatio*server
}

// StepServer is what the server paid over one step's window, from
// PREFIX_target.csv; NaN where the target gave no figure.
type StepServer struct {
	CPU      float64 `json:"cpu_pct"` // mean % of one core
	RSSMiB   float64 `json:"peak_rss_mib"`
	Threads  float64 `json:"peak_threads"`
	Children float64 `json:"peak_child_processes"`
	FDs      float64 `json:"peak_open_fds"`
	Active   float64 `json:"peak_connections_active"`
	EMFILE   float64 `json:"emfile"` // failed accepts during the window
	Shed     float64 `json:"shed"`
	// The busiest load generator's and the master's mean CPU over the
	// window, % of a core, as bin/lab run read them from /proc.
	GeneratorCPU float64 `json:"generator_cpu_pct"`
	MasterCPU    float64 `json:"master_cpu_pct"`
	// GeneratorWait is how long that generator's threads waited for a
	// CPU, % of the window (NaN: not measured).
	GeneratorWait float64 `json:"generator_wait_pct"`
	// LoadBusy is how busy the load generators' CPUs were, % of their
	// time, whoever kept them busy.
	LoadBusy float64 `json:"load_cpus_busy_pct"`
}

// GeneratorCPU is the busiest load generator's CPU over the step: what
// bin/lab run measured, else the peak the workers' heartbeats reported.
func (s StepRow) GeneratorCPU() float64 {
	if !math.IsNaN(s.Server.GeneratorCPU) {
		return s.Server.GeneratorCPU
	}
	return s.WorkerCPUPeak
}

// StepRow is one step of a sweep with its verdict.
type StepRow struct {
	locustcsv.Step
	Server         StepServer
	Broken         bool
	How            string // why it broke; "" when served
	GeneratorBound bool
	Disturbed      bool // other processes kept the load CPUs busy
}

// Knee is a run's result: the largest step served before the first broken
// one, and how that one broke. Its axis is the sweep's: user counts, or
// arrival rates (an open model), where Users is the pool.
type Knee struct {
	Run       string  `json:"run"`
	Model     string  `json:"model"`
	Generator string  `json:"generator"`
	Axis      string  `json:"axis"`         // "users" or "rate"
	Rate      float64 `json:"rate_at_knee"` // requests due a second; 0: broke at the first step (rate axis)
	// BrokeAtRate is the first broken step's rate; 0: never broke (rate
	// axis).
	BrokeAtRate float64 `json:"first_broken_rate"`
	Users       int     `json:"users_at_knee"` // 0: broke at the first step
	RPS         float64 `json:"rps_at_knee"`
	P95         float64 `json:"p95_at_knee_ms"`
	BrokeAt     int     `json:"first_broken_users"` // 0: never broke
	How         string  `json:"how_it_broke"`
	// GeneratorBoundAt is the first step whose load generator was the
	// limit; 0: none.
	GeneratorBoundAt   int     `json:"generator_bound_at_users"`
	generatorBoundRate float64 // the rate there, on the rate axis
	// ServedAfter are the steps, on the knee's axis, served again after
	// the first broken one: a break that does not hold as the load grows.
	ServedAfter []float64 `json:"served_after_break"`
	// Disturbed counts the steps run while other processes kept the load
	// generators' CPUs busy; DisturbedPeak is the busiest of them, %.
	Disturbed     int     `json:"disturbed_steps"`
	DisturbedPeak float64 `json:"-"`
	Sentence      string  `json:"sentence"`
}

// SweepRun is one sweep: its steps, in order, and its knee.
type SweepRun struct {
	Name, Model, Generator string
	Steps                  []StepRow
	Knee                   Knee
	// IdleRSSMiB is the target's memory before the load, NaN if unknown:
	// what a step's users cost is what it holds above that.
	IdleRSSMiB float64
	// MasterWarnedCPU: the master's log says a worker's CPU passed
	// Locust's own warning threshold.
	MasterWarnedCPU bool
	// LostWorker, when the run ended early because the master lost its
	// last worker, says so (meta.json's lost_worker): the steps after
	// were never measured, and the model is not what stopped.
	LostWorker string
}

// cpuWarnings are what Locust's master logs when a worker's heartbeats
// report a saturated CPU (2.47.0) or its own CPU is (every version).
var cpuWarnings = []string{"exceeded cpu threshold", "CPU usage above"}

// masterWarnedCPU scans a run's master log for those warnings.
func masterWarnedCPU(prefix string) bool {
	f, err := regular.Open(prefix + ".locust.log")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		for _, w := range cpuWarnings {
			if strings.Contains(sc.Text(), w) {
				return true
			}
		}
	}
	return false
}

// LoadSweeps reads the steps of every run that has PREFIX_steps.csv (a
// sweep) and finds each one's knee under sl.
func (r *Report) LoadSweeps(sl ServiceLevel) error {
	r.Level = sl
	for _, run := range r.Runs {
		steps, err := locustcsv.ReadSteps(run.Prefix + locustcsv.StepsSuffix)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		fails, err := locustcsv.ReadStepFailures(run.Prefix + locustcsv.StepFailuresSuffix)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		// The lab's own samples when it took them (CPU time included),
		// else the Target tab's.
		target, err := locustcsv.ReadServer(run.Prefix + locustcsv.ServerSuffix)
		if errors.Is(err, fs.ErrNotExist) {
			target, err = locustcsv.ReadTarget(run.Prefix + locustcsv.TargetSuffix)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		sr := SweepRun{Name: run.Name, Model: run.Name, Generator: "go", IdleRSSMiB: math.NaN(),
			MasterWarnedCPU: masterWarnedCPU(run.Prefix)}
		for _, x := range target {
			if x.Answered && !math.IsNaN(x.RSS) {
				sr.IdleRSSMiB = x.RSS / (1 << 20)
				break
			}
		}
		if mr, ok := r.modelRun(run); ok {
			sr.Model = mr.Model
			if mr.Generator != "" {
				sr.Generator = mr.Generator
			}
			sr.LostWorker = mr.LostWorker
		}
		for _, s := range steps {
			row := StepRow{Step: s, Server: window(target, s.Start, s.End)}
			judge(&row, fails, sl)
			sr.Steps = append(sr.Steps, row)
		}
		sr.Knee = kneeOf(&sr)
		r.Sweeps = append(r.Sweeps, sr)
	}
	sort.SliceStable(r.Sweeps, func(i, j int) bool {
		a, b := r.Sweeps[i].Knee, r.Sweeps[j].Knee
		if a.Axis != b.Axis {
			return a.Axis < b.Axis
		}
		if a.level() != b.level() {
			return a.level() > b.level()
		}
		return r.Sweeps[i].Name < r.Sweeps[j].Name
	})
	return nil
}

// modelRun is run's entry in its folder's meta.json, if any.
func (r *Report) modelRun(run *locustcsv.Run) (meta.ModelRun, bool) {
	m, err := meta.Read(filepath.Dir(run.Prefix))
	if err != nil {
		return meta.ModelRun{}, false
	}
	for _, mr := range m.Runs {
		if mr.Label() == filepath.Base(run.Prefix) {
			return mr, true
		}
	}
	return meta.ModelRun{}, false
}

// window is the target's figures between two Unix times: peaks of its
// gauges, the mean of its CPU, and how much its counters rose (from the
// last sample before the window).
func window(samples []locustcsv.TargetSample, start, end float64) StepServer {
	nan := math.NaN()
	s := StepServer{CPU: nan, RSSMiB: nan, Threads: nan, Children: nan, FDs: nan, Active: nan, EMFILE: nan, Shed: nan,
		GeneratorCPU: nan, MasterCPU: nan, GeneratorWait: nan, LoadBusy: nan}
	var before, first, last *locustcsv.TargetSample
	var cpu []float64
	peak := func(dst *float64, v float64) {
		if !math.IsNaN(v) && (math.IsNaN(*dst) || v > *dst) {
			*dst = v
		}
	}
	for i := range samples {
		x := &samples[i]
		if !x.Answered {
			continue
		}
		t := x.Time
		if t < start {
			before = x
			continue
		}
		if t > end {
			break
		}
		if first == nil {
			first = x
		}
		if !math.IsNaN(x.CPU) {
			cpu = append(cpu, x.CPU)
		}
		peak(&s.RSSMiB, x.RSS/(1<<20))
		peak(&s.Threads, x.Threads)
		peak(&s.Children, x.Children)
		peak(&s.FDs, x.OpenFDs)
		peak(&s.Active, x.Active)
		last = x
	}
	// CPU time, when sampled, over the window's span; else the mean of
	// the per-second CPU %.
	rate := func(f func(*locustcsv.TargetSample) float64) float64 {
		from := before
		if from == nil || math.IsNaN(f(from)) {
			from = first
		}
		if from == nil || last == nil || math.IsNaN(f(from)) || math.IsNaN(f(last)) || last.Time <= from.Time {
			return math.NaN()
		}
		return 100 * (f(last) - f(from)) / (last.Time - from.Time)
	}
	if v := rate(func(x *locustcsv.TargetSample) float64 { return x.CPUSeconds }); !math.IsNaN(v) {
		s.CPU, cpu = v, nil
	}
	s.GeneratorCPU = rate(func(x *locustcsv.TargetSample) float64 { return x.WorkerCPUSeconds })
	s.MasterCPU = rate(func(x *locustcsv.TargetSample) float64 { return x.MasterCPUSeconds })
	s.GeneratorWait = rate(func(x *locustcsv.TargetSample) float64 { return x.WorkerWaitSeconds })
	if busy, all := rate(func(x *locustcsv.TargetSample) float64 { return x.LoadBusySeconds }),
		rate(func(x *locustcsv.TargetSample) float64 { return x.LoadSeconds }); all > 0 {
		s.LoadBusy = 100 * busy / all
	}
	if len(cpu) > 0 {
		sum := 0.0
		for _, c := range cpu {
			sum += c
		}
		s.CPU = sum / float64(len(cpu))
	}
	if last != nil {
		rise := func(f func(*locustcsv.TargetSample) float64) float64 {
			v := f(last)
			if before != nil && !math.IsNaN(f(before)) {
				return v - f(before)
			}
			return v
		}
		s.EMFILE = rise(func(x *locustcsv.TargetSample) float64 { return x.EMFILE })
		s.Shed = rise(func(x *locustcsv.TargetSample) float64 { return x.Shed })
	}
	return s
}

// judge decides whether a step was served within sl, and if not, how it
// broke: the server's own evidence first (descriptors, the backlog), then
// what the users saw.
func judge(row *StepRow, fails []locustcsv.StepFailure, sl ServiceLevel) {
	s, sv := row.Step, row.Server
	row.GeneratorBound = generatorBound(row.GeneratorCPU(), sv.GeneratorWait, sv.LoadBusy, sv.CPU)
	row.Disturbed = disturbed(sv, row.GeneratorCPU())
	var why []string
	kinds := map[string]int{}
	for _, f := range fails {
		if f.Step == s.Step {
			kinds[locustcsv.Kind(f.Error)] += f.Occurrences
		}
	}
	failed := s.Requests == 0 || s.FailurePct() >= sl.MaxFailPct
	slow := !math.IsNaN(s.P95) && s.P95 >= sl.MaxP95
	// The users that should hold a connection: all of them, or in an
	// open model those the schedule gave a request.
	users := float64(s.Users)
	if s.Rate() && !math.IsNaN(s.Engaged) {
		users = s.Engaged
	}
	queued := !math.IsNaN(sv.Active) && sv.Active < sl.ConnectedShare*users
	if sv.EMFILE > 0 {
		why = append(why, fmt.Sprintf("EMFILE: the server ran out of descriptors (%s accepts failed)", count(sv.EMFILE)))
	}
	if queued {
		// Users left in the backlog time out; users whose connection the
		// server accepted and closed (select past FD_SETSIZE) see resets
		// and closes at once: the same shortfall, another mechanism.
		if turnedAway := kinds[locustcsv.KindReset] + kinds[locustcsv.KindClosed]; turnedAway > kinds[locustcsv.KindTimeout] {
			why = append(why, fmt.Sprintf("turned away: the server held %s for %s users and closed the others' connections", plural(sv.Active, "connection"), count(users)))
		} else {
			why = append(why, fmt.Sprintf("queued in the backlog: the server held %s for %s users", plural(sv.Active, "connection"), count(users)))
		}
	}
	if s.Rate() {
		why = append(why, openModelWhy(s, sl)...)
	}
	if failed {
		switch {
		case s.Requests == 0:
			why = append(why, "no request finished in the window")
		default:
			why = append(why, fmt.Sprintf("%.1f %% failed (%s)", s.FailurePct(), kindList(kinds)))
		}
	}
	if slow {
		why = append(why, fmt.Sprintf("p95 %s ms", ms(s.P95)))
	}
	if len(why) == 0 {
		return
	}
	if sv.Threads >= 0.9*users && users > 50 {
		why = append(why, fmt.Sprintf("holding %s threads", count(sv.Threads)))
	}
	if sv.Children >= 0.9*users && users > 50 {
		why = append(why, fmt.Sprintf("holding %s processes", count(sv.Children)))
	}
	row.Broken = true
	row.How = strings.Join(why, "; ")
}

// openModelWhy is how an open model's step fell behind: its pool ran dry
// (requests due while every user was busy waited for one: the target did
// not keep up), or fewer requests were answered than fell due.
func openModelWhy(s locustcsv.Step, sl ServiceLevel) []string {
	var why []string
	dry := s.Late > 0 && s.LatePct() >= sl.MaxFailPct
	if dry {
		w := fmt.Sprintf("the pool of %d users ran dry: %s of %s requests due (%.1f %%) waited for a free user, up to %s ms",
			s.Users, count(s.Late), count(s.Due), s.LatePct(), ms(s.MaxLag))
		if s.Backlog > 0 {
			w += fmt.Sprintf(", %s still queued at the window's end", count(s.Backlog))
		}
		why = append(why, w)
	}
	if !dry && s.Requests > 0 && s.RPS < 0.9*s.TargetRate {
		why = append(why, fmt.Sprintf("%.0f of the %s requests due a second were answered", s.RPS, num(s.TargetRate)))
	}
	return why
}

// PoolDry says whether some of the step's due requests waited for a free
// user, however few.
func (s StepRow) PoolDry() bool { return s.Rate() && s.Late > 0 }

func count(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

// plural is "1 connection", "2 connections".
func plural(v float64, noun string) string {
	if v == 1 {
		return "1 " + noun
	}
	return count(v) + " " + noun + "s"
}

// kindList names failure kinds, most first: "timeout 120, refused 3".
func kindList(kinds map[string]int) string {
	type kv struct {
		k string
		n int
	}
	var list []kv
	for k, n := range kinds {
		list = append(list, kv{k, n})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].n != list[j].n {
			return list[i].n > list[j].n
		}
		return list[i].k < list[j].k
	})
	var parts []string
	for _, x := range list {
		name := x.k
		if name == locustcsv.KindTimeout {
			name = "timeouts"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, x.n))
	}
	if len(parts) == 0 {
		return "no failure text"
	}
	return strings.Join(parts, ", ")
}

// level is a step's place on its sweep's axis.
func level(s StepRow) float64 {
	if s.Rate() {
		return s.TargetRate
	}
	return float64(s.Users)
}

// level is the knee's place on its axis: users, or requests a second.
func (k Knee) level() float64 {
	if k.Axis == "rate" {
		return k.Rate
	}
	return float64(k.Users)
}

// brokeAt is the first broken step on the knee's axis; 0: none.
func (k Knee) brokeAt() float64 {
	if k.Axis == "rate" {
		return k.BrokeAtRate
	}
	return float64(k.BrokeAt)
}

// kneeOf finds the largest step served before the first broken one.
func kneeOf(sr *SweepRun) Knee {
	k := Knee{Run: sr.Name, Model: sr.Model, Generator: sr.Generator, Axis: "users", RPS: math.NaN(), P95: math.NaN()}
	if len(sr.Steps) > 0 && sr.Steps[0].Rate() {
		k.Axis = "rate"
	}
	for _, s := range sr.Steps {
		if s.GeneratorBound && k.GeneratorBoundAt == 0 {
			k.GeneratorBoundAt = s.Users
			if s.Rate() {
				k.generatorBoundRate = s.TargetRate
			}
		}
		if s.Disturbed {
			k.Disturbed++
			k.DisturbedPeak = math.Max(k.DisturbedPeak, s.Server.LoadBusy)
		}
		if k.brokeAt() != 0 {
			if !s.Broken {
				k.ServedAfter = append(k.ServedAfter, level(s))
			}
			continue
		}
		if s.Broken {
			k.BrokeAt, k.How = s.Users, s.How
			if s.Rate() {
				k.BrokeAtRate = s.TargetRate
			}
			continue
		}
		k.Users, k.RPS, k.P95 = s.Users, s.RPS, s.P95
		if s.Rate() {
			k.Rate = s.TargetRate
		}
	}
	k.Sentence = sentence(sr, k)
	return k
}

// unit names a place on the axis: "40 users", "1000 req/s".
func (k Knee) unit(v float64) string {
	if k.Axis == "rate" {
		return num(v) + " req/s"
	}
	return count(v) + " users"
}

func sentence(sr *SweepRun, k Knee) string {
	name := sr.Name
	beyond := "this sweep"
	if sr.LostWorker != "" {
		beyond = "the steps measured"
	}
	var b strings.Builder
	switch {
	case len(sr.Steps) == 0:
		fmt.Fprintf(&b, "%s has no step measured.", name)
	case k.Axis == "rate" && k.BrokeAtRate == 0:
		fmt.Fprintf(&b, "%s kept up with every rate within the service level, up to %s due (%.0f req/s answered, p95 %s ms from when each was due): its knee is beyond %s.",
			name, k.unit(k.Rate), k.RPS, ms(k.P95), beyond)
	case k.Axis == "rate" && k.Rate == 0:
		fmt.Fprintf(&b, "%s broke already at %s: %s.", name, k.unit(k.BrokeAtRate), k.How)
	case k.Axis == "rate":
		fmt.Fprintf(&b, "%s kept up with %s (%.0f answered, p95 %s ms from when each was due) and broke at %s: %s.",
			name, k.unit(k.Rate), k.RPS, ms(k.P95), k.unit(k.BrokeAtRate), k.How)
	case k.BrokeAt == 0:
		fmt.Fprintf(&b, "%s served every step within the service level, up to %d users (%.0f req/s, p95 %s ms): its knee is beyond %s.",
			name, k.Users, k.RPS, ms(k.P95), beyond)
	case k.Users == 0:
		fmt.Fprintf(&b, "%s broke already at %d users: %s.", name, k.BrokeAt, k.How)
	default:
		fmt.Fprintf(&b, "%s served %d users (%.0f req/s, p95 %s ms) and broke at %d: %s.",
			name, k.Users, k.RPS, ms(k.P95), k.BrokeAt, k.How)
	}
	if k.GeneratorBoundAt != 0 {
		for _, s := range sr.Steps {
			if s.Users == k.GeneratorBoundAt && (!s.Rate() || s.TargetRate == k.generatorBoundRate) {
				server := "unknown"
				if !math.IsNaN(s.Server.CPU) {
					server = fmt.Sprintf("%.0f %%", s.Server.CPU)
				}
				load := ""
				if !math.IsNaN(s.Server.LoadBusy) {
					load = fmt.Sprintf(", its CPUs %.0f %% busy", s.Server.LoadBusy)
				}
				fmt.Fprintf(&b, " From %s the %s generator was the limit (its CPU %.0f %% of a core%s, the server's %s): those steps measured the generator, not the server.",
					k.unit(level(s)), sr.Generator, s.GeneratorCPU(), load, server)
				break
			}
		}
	}
	if len(k.ServedAfter) > 0 {
		at := make([]string, len(k.ServedAfter))
		for i, v := range k.ServedAfter {
			at[i] = k.unit(v)
		}
		fmt.Fprintf(&b, " Yet it was within the service level again at %s: a break that does not hold as the load grows points at a disturbed or unlucky step, not at the model; run it again (--repeat).",
			strings.Join(at, ", "))
	}
	if k.Disturbed > 0 {
		fmt.Fprintf(&b, " %d of its %d steps ran while other processes kept the load generators' CPUs busy (up to %.0f %%, the run itself using under %.0f %% of a core): their times measured that competition too; measure on a quiet machine.",
			k.Disturbed, len(sr.Steps), k.DisturbedPeak, DisturbedOwn)
	}
	if sr.MasterWarnedCPU {
		b.WriteString(" Locust's master warned that a load generator's CPU passed 90 %.")
	}
	if sr.LostWorker != "" {
		fmt.Fprintf(&b, " The run ended early, after the steps above: %s.", sr.LostWorker)
	}
	return b.String()
}

// KneeCSV writes knee.csv: one row per sweep, for scripts and CI.
func (r *Report) KneeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"model", "generator", "run", "users_at_knee", "rps_at_knee", "p95_at_knee_ms",
		"first_broken_users", "how_it_broke", "generator_bound_at_users", "axis", "rate_at_knee", "first_broken_rate",
		"served_after_break", "disturbed_steps"})
	for _, s := range r.Sweeps {
		k := s.Knee
		broke := ""
		if k.BrokeAt > 0 {
			broke = strconv.Itoa(k.BrokeAt)
		}
		gb := ""
		if k.GeneratorBoundAt > 0 {
			gb = strconv.Itoa(k.GeneratorBoundAt)
		}
		rate, brokeRate := "", ""
		if k.Axis == "rate" {
			rate = num(k.Rate)
			if k.BrokeAtRate > 0 {
				brokeRate = num(k.BrokeAtRate)
			}
		}
		after := make([]string, len(k.ServedAfter))
		for i, v := range k.ServedAfter {
			after[i] = num(v)
		}
		cw.Write([]string{k.Model, k.Generator, k.Run, strconv.Itoa(k.Users), numNaN(k.RPS), numNaN(k.P95), broke, k.How, gb,
			k.Axis, rate, brokeRate, strings.Join(after, " "), strconv.Itoa(k.Disturbed)})
	}
	cw.Flush()
	return cw.Error()
}

func numNaN(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return num(v)
}

func cell(v float64, prec int) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// rateAxis says whether every sweep's steps are arrival rates.
func (r *Report) rateAxis() bool {
	for _, s := range r.Sweeps {
		if s.Knee.Axis != "rate" {
			return false
		}
	}
	return len(r.Sweeps) > 0
}

// mixedAxes says whether the sweeps' axes differ (runs of several
// folders): the knee table then names each cell's unit.
func (r *Report) mixedAxes() bool {
	for _, s := range r.Sweeps {
		if s.Knee.Axis != r.Sweeps[0].Knee.Axis {
			return true
		}
	}
	return false
}

// kneeCells are the knee table's knee and broke-at cells.
func (r *Report) kneeCells(k Knee) (knee, broke string) {
	mixed := r.mixedAxes()
	cellOf := func(v float64) string {
		if mixed {
			return k.unit(v)
		}
		if k.Axis == "rate" {
			return num(v)
		}
		return count(v)
	}
	knee, broke = "none", "-"
	if k.level() > 0 {
		knee = cellOf(k.level())
	}
	if k.brokeAt() > 0 {
		broke = cellOf(k.brokeAt())
	}
	return knee, broke
}

// axisWords are the knee section's words for its axis: the table's knee
// heading, and what the steps are.
func (r *Report) axisWords() (head, steps string) {
	switch {
	case r.mixedAxes():
		return "knee", "The steps are user counts (a closed model, where users wait for their answers, so a slow server is also sent fewer requests) or arrival rates (an open model: requests fall due at the step's rate whatever the latency, and their times run from when each fell due)."
	case r.rateAxis():
		return "knee (req/s due)", "The axis is the arrival rate, an open model: the Go workers start requests at the step's rate whatever the latency, a pool of users taking them in turn, and each request's time runs from when it fell due, so a server that falls behind shows its queue in the latency instead of being sent fewer requests. A step where requests fell due while every user of the pool was busy (the pool ran dry: the server did not keep up and requests queued) is broken too, once " + strconv.FormatFloat(r.Level.MaxFailPct, 'g', -1, 64) + " % or more of them waited."
	}
	return "knee (users)", "The axis is the user count, a closed model: users wait for their answers, so a slow server is also sent fewer requests."
}

// sweepMarkdown is the knee table, a sentence per sweep, and each sweep's
// steps.
func (r *Report) sweepMarkdown(w io.Writer) error {
	if len(r.Sweeps) == 0 {
		return nil
	}
	sl := r.Level
	head, steps := r.axisWords()
	fmt.Fprintf(w, "\n## The knee\n\nThe largest step each model served within the service level (failures under %g %%, p95 under %s ms, at least %.0f %% of the users connected to the server), and the first step where it broke. Each step's figures are its steady window only, after its ramp. %s\n\n",
		sl.MaxFailPct, ms(sl.MaxP95), 100*sl.ConnectedShare, steps)
	fmt.Fprintf(w, "| model | generator | %s | RPS there | p95 there, ms | broke at | how it broke |\n|---|---|---:|---:|---:|---:|---|\n", head)
	for _, s := range r.Sweeps {
		k := s.Knee
		knee, broke := r.kneeCells(k)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", mdEscape(s.Name), s.Generator, knee,
			cell(k.RPS, 1), cell(k.P95, 0), broke, mdEscape(k.How))
	}
	io.WriteString(w, "\n")
	for _, s := range r.Sweeps {
		fmt.Fprintf(w, "- %s\n", mdEscape(s.Knee.Sentence))
	}
	io.WriteString(w, "\n## Steps\n\nPer step, over its window: Locust's figures (from the master's statistics at the window's start and end), what the server paid (sampled by `lab run` into `MODEL_server.csv`, else the Target tab's `MODEL_target.csv`: CPU, peaks of memory, threads, child processes, descriptors and connections, failed accepts), the busiest load generator's CPU (% of a core, from `/proc`, else the peak its heartbeats reported) and how busy the load generators' CPUs were, whoever kept them busy.\n")
	for _, s := range r.Sweeps {
		fmt.Fprintf(w, "\n### %s (%s generator)\n\n", mdEscape(s.Name), s.Generator)
		rows := stepTable(s)
		io.WriteString(w, "| "+strings.Join(rows[0], " | ")+" |\n|")
		for i := range rows[0] {
			if i == len(rows[0])-1 {
				io.WriteString(w, "---|\n")
			} else {
				io.WriteString(w, "---:|")
			}
		}
		for _, row := range rows[1:] {
			for i := range row {
				if rest, ok := strings.CutPrefix(row[i], "broken: "); ok && i == len(row)-1 {
					row[i] = "**broken**: " + mdEscape(rest)
					continue
				}
				row[i] = mdEscape(row[i])
			}
			io.WriteString(w, "| "+strings.Join(row, " | ")+" |\n")
		}
	}
	return nil
}

// stepTable is a sweep's steps as table rows, its header first; the last
// cell is the verdict. An open model's steps say how the schedule was
// kept: late (due while the pool was busy), the longest wait for a free
// user, queued at the window's end, users engaged.
func stepTable(s SweepRun) [][]string {
	rate := len(s.Steps) > 0 && s.Steps[0].Rate()
	head := []string{"users"}
	if rate {
		head = []string{"rate due/s", "users"}
	}
	head = append(head, "RPS", "median ms", "p95 ms", "p99 ms", "failure %")
	if rate {
		head = append(head, "late %", "longest wait ms", "queued at end", "engaged")
	}
	head = append(head, "server CPU %", "RSS MiB", "threads", "procs", "fds", "conns", "EMFILE", "generator CPU %", "load CPUs busy %", "verdict")
	out := [][]string{head}
	for _, st := range s.Steps {
		row := []string{strconv.Itoa(st.Users)}
		if rate {
			row = []string{num(st.TargetRate), strconv.Itoa(st.Users)}
		}
		row = append(row, cell(st.RPS, 1), cell(st.Median, 0), cell(st.P95, 0), cell(st.P99, 0), cell(st.FailurePct(), 1))
		if rate {
			row = append(row, cell(st.LatePct(), 1), cell(st.MaxLag, 0), cell(st.Backlog, 0), cell(st.Engaged, 0))
		}
		v := "served"
		if st.Broken {
			v = "broken: " + st.How
		} else if st.PoolDry() {
			v += fmt.Sprintf(" (the pool was briefly dry: %s requests waited)", count(st.Late))
		}
		if st.GeneratorBound {
			v += " (generator-bound)"
		}
		if st.Disturbed {
			v += " (disturbed)"
		}
		row = append(row, cell(st.Server.CPU, 1), cell(st.Server.RSSMiB, 1), cell(st.Server.Threads, 0), cell(st.Server.Children, 0),
			cell(st.Server.FDs, 0), cell(st.Server.Active, 0), cell(st.Server.EMFILE, 0), cell(st.GeneratorCPU(), 0), cell(st.Server.LoadBusy, 0), v)
		out = append(out, row)
	}
	return out
}

// sweepHTML is sweepMarkdown's page form.
func (r *Report) sweepHTML(b *strings.Builder) {
	if len(r.Sweeps) == 0 {
		return
	}
	sl := r.Level
	head, steps := r.axisWords()
	fmt.Fprintf(b, "<h2>The knee</h2>\n<p>The largest step each model served within the service level (failures under %g %%, p95 under %s ms, at least %.0f %% of the users connected), and the first step where it broke; each step over its steady window only. %s</p>\n<table>\n<tr><th>model</th><th>generator</th><th>%s</th><th>RPS there</th><th>p95 there, ms</th><th>broke at</th><th>how it broke</th></tr>\n",
		sl.MaxFailPct, ms(sl.MaxP95), 100*sl.ConnectedShare, html.EscapeString(steps), html.EscapeString(head))
	for _, s := range r.Sweeps {
		k := s.Knee
		knee, broke := r.kneeCells(k)
		fmt.Fprintf(b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td style=\"text-align:left\">%s</td></tr>\n",
			html.EscapeString(s.Name), s.Generator, html.EscapeString(knee), cell(k.RPS, 1), cell(k.P95, 0), html.EscapeString(broke), html.EscapeString(k.How))
	}
	b.WriteString("</table>\n<ul>\n")
	for _, s := range r.Sweeps {
		fmt.Fprintf(b, "<li>%s</li>\n", html.EscapeString(s.Knee.Sentence))
	}
	b.WriteString("</ul>\n<h2>Steps</h2>\n")
	for _, s := range r.Sweeps {
		fmt.Fprintf(b, "<h3>%s (%s generator)</h3>\n<table>\n<tr>", html.EscapeString(s.Name), s.Generator)
		rows := stepTable(s)
		for _, h := range rows[0] {
			fmt.Fprintf(b, "<th>%s</th>", html.EscapeString(h))
		}
		b.WriteString("</tr>\n")
		for _, row := range rows[1:] {
			b.WriteString("<tr>")
			last := len(row) - 1
			for _, c := range row[:last] {
				fmt.Fprintf(b, "<td>%s</td>", html.EscapeString(c))
			}
			class := ""
			if strings.HasPrefix(row[last], "broken: ") {
				class = ` class="bad"`
			}
			fmt.Fprintf(b, "<td%s style=\"text-align:left\">%s</td></tr>\n", class, html.EscapeString(row[last]))
		}
		b.WriteString("</table>\n")
	}
}
