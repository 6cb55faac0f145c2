// Package runner runs headless Locust against every target model, one model
// after another, each from a fresh start under identical limits, and keeps
// every file the runs produce.
package runner

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Config is one lab run. Zero fields are filled by Defaults.
type Config struct {
	Models    []string      // in run order
	Users     int           // Locust -u
	SpawnRate float64       // Locust -r
	RunTime   time.Duration // Locust -t, per model
	Workers   int           // bin/boomer processes (Locust workers)
	Pool      int           // every target's --workers; 0 keeps each model's default
	UserClass string        // the locustfile's user class
	MaxFDs    int           // RLIMIT_NOFILE of targets and workers; 0 inherits the lab's
	CPUs      CPUSplit      // where targets and load generators may run
	Out       string        // results folder
	BinDir    string        // holds target and boomer
	Repo      string        // the checkout: locustfile.py, requirements.txt, .venv
	Pause     time.Duration // quiet time between models, so one model's sockets do not touch the next
	// The users' timeouts, given to the master (the locustfile's
	// --connect-timeout and --response-timeout); 0: the defaults below.
	ConnectTimeout, ResponseTimeout time.Duration
	// What the targets do at EMFILE (bin/target --on-emfile): each model
	// runs once per mode; none: DefaultOnEMFILE.
	OnEMFILE []string
	// Locust chooses the master's Locust (see ChooseLocust); "": the
	// pinned one.
	Locust string
	// Sweep, if set, makes each run a step-load sweep: the master ramps
	// to each user count at SpawnRate and holds it for RunTime (a step's
	// window); Users is then unused.
	Sweep []int
	// SweepRPS, if set, makes each run an open-model sweep: Users are
	// spawned once as a pool, then each arrival rate (requests a second,
	// all workers together) is held for RunTime after RateSettle. Only Go
	// workers can hold a rate.
	SweepRPS []float64
	// Generator is who makes the load: go (bin/boomer), python (Locust's
	// own workers running the locustfile's HttpUsers) or both (every
	// model run once with each); "": go.
	Generator string
	// Repeat runs every model this many times; 0 or 1: once.
	Repeat int
	// KneeFailPct and KneeP95 (ms), if set, are the service level a
	// sweep's report judges its steps by; 0: the report's defaults.
	KneeFailPct, KneeP95 float64
	// SpawnRates, if set, runs every model once per spawn rate (the
	// seeds preset's two ramps); SpawnRate is then unused.
	SpawnRates []float64
	// Sources is how many loopback addresses (127.0.0.1 onwards) the Go
	// workers dial from, so that more users than one address has
	// ephemeral ports reach the target; 0 or 1: the kernel's choice.
	Sources int
}

func (c *Config) spawnRates() []float64 {
	if len(c.SpawnRates) == 0 {
		return []float64{c.SpawnRate}
	}
	return c.SpawnRates
}

// Generators are --generator's values; "both" runs each of the others.
var Generators = []string{"go", "python", "both"}

func (c *Config) generators() []string {
	switch c.Generator {
	case "", "go":
		return []string{"go"}
	case "both":
		return []string{"go", "python"}
	}
	return []string{c.Generator}
}

func (c *Config) repeat() int {
	if c.Repeat < 1 {
		return 1
	}
	return c.Repeat
}

// SweepRamps are the planned seconds of each step's ramp, from the
// previous user count at spawn rate (at least a second each), as the
// sweep's load shape plans them.
func SweepRamps(steps []int, spawnRate float64) []float64 {
	var out []float64
	prev := 0
	for _, u := range steps {
		out = append(out, math.Max(1, math.Ceil(math.Abs(float64(u-prev))/spawnRate)))
		prev = u
	}
	return out
}

// rampSlack is how much longer than planned the load shape lets a ramp
// run before it measures the step anyway (serverlab_locust/sweep.py's
// RAMP_SLACK).
const rampSlack = 30 * time.Second

// RateSettle is how long a rate sweep's new rate runs before its window
// opens (serverlab_locust/sweep.py's SETTLE).
const RateSettle = 3 * time.Second

// loadTime is how long one run's load lasts as planned: Locust's -t, or
// a sweep's ramps and windows.
func (c *Config) loadTime() time.Duration {
	if len(c.SweepRPS) > 0 {
		spawn := math.Max(1, math.Ceil(float64(c.Users)/c.SpawnRate))
		return time.Duration(spawn*float64(time.Second)) + time.Duration(len(c.SweepRPS))*(RateSettle+c.RunTime)
	}
	if len(c.Sweep) == 0 {
		return c.RunTime
	}
	var s float64
	for _, r := range SweepRamps(c.Sweep, c.SpawnRate) {
		s += r
	}
	return time.Duration(s*float64(time.Second)) + time.Duration(len(c.Sweep))*c.RunTime
}

// overrun is how much past loadTime a run may go before it is stopped.
func (c *Config) overrun() time.Duration {
	if len(c.SweepRPS) > 0 {
		return masterMargin + rampSlack
	}
	return masterMargin + time.Duration(len(c.Sweep))*rampSlack
}

// shaped says whether a load shape in the run's locustfile sets the users
// and ends the run (a sweep of either kind).
func (c *Config) shaped() bool { return len(c.Sweep) > 0 || len(c.SweepRPS) > 0 }

// Defaults of the users' timeouts: the locustfile's own.
const (
	DefaultConnectTimeout  = 5 * time.Second
	DefaultResponseTimeout = 10 * time.Second
)

// EMFILEModes are bin/target's --on-emfile values; DefaultOnEMFILE is its
// default, the textbook servers' way: leave the client in the backlog.
var (
	EMFILEModes     = []string{"wait", "shed"}
	DefaultOnEMFILE = "wait"
)

func (c *Config) connectTimeout() time.Duration {
	if c.ConnectTimeout == 0 {
		return DefaultConnectTimeout
	}
	return c.ConnectTimeout
}

func (c *Config) responseTimeout() time.Duration {
	if c.ResponseTimeout == 0 {
		return DefaultResponseTimeout
	}
	return c.ResponseTimeout
}

func (c *Config) onEMFILE() []string {
	if len(c.OnEMFILE) == 0 {
		return []string{DefaultOnEMFILE}
	}
	return c.OnEMFILE
}

// Preset is a named set of load parameters; explicit flags override it.
type Preset struct {
	Users      int
	SpawnRate  float64
	RunTime    time.Duration
	UserClass  string
	Sweep      []int
	SweepRPS   []float64
	SpawnRates []float64 // runs every model once per rate
	Generator  string
	Models     []string // the preset's models; none: every model
	// C10K plans the steps, workers and the targets' --max-fds from the
	// machine's limits (see C10K).
	C10K bool
}

// Presets: lab is the comparison the report is made for, quick a smoke run
// of a few seconds a model, max a closed loop of users that never wait, to
// find each model's ceiling.
//
// sweep holds LabUsers at 10 to 5000 for 30 s each: the knee of every
// model. sweep-rps is its open model: a pool of 1000 users held at 1000,
// 10000 and 100000 requests a second, 30 s each. c10k holds LabUsers, 20 s
// a step, from 1000 up to as many connections as the machine's open-files
// limit lets a target hold: what each model pays per connection and where
// it stops. seeds is the course reports' setup, 1000 LabUsers ramped at 100
// and at 1000 a second (each rate a run), by bin/boomer and by Python
// workers, for the models the course measured, and epoll.
var Presets = map[string]Preset{
	"lab":   {Users: 1000, SpawnRate: 100, RunTime: 60 * time.Second, UserClass: "LabUser"},
	"quick": {Users: 20, SpawnRate: 20, RunTime: 5 * time.Second, UserClass: "LabUser"},
	"max":   {Users: 200, SpawnRate: 50, RunTime: 30 * time.Second, UserClass: "HammerUser"},
	"sweep": {Users: 5000, SpawnRate: 500, RunTime: 30 * time.Second, UserClass: "LabUser",
		Sweep: []int{10, 100, 1000, 2000, 5000}},
	"sweep-rps": {Users: 1000, SpawnRate: 500, RunTime: 30 * time.Second, UserClass: "LabUser",
		SweepRPS: []float64{1000, 10000, 100000}},
	"seeds": {Users: 1000, SpawnRate: 100, RunTime: 30 * time.Second, UserClass: "LabUser",
		SpawnRates: []float64{100, 1000}, Generator: "both",
		Models: []string{"single", "process", "thread", "select", "epoll"}},
	"c10k": {SpawnRate: 1000, RunTime: 20 * time.Second, UserClass: "LabUser", C10K: true},
}

// UserClasses are the locustfile's (and bin/boomer's) user classes.
var UserClasses = []string{"LabUser", "BrowserUser", "HammerUser", "SlowIOUser", "CPUUser"}

// CPUSplit pins targets and load generators (Locust master and workers) to
// disjoint CPUs so that the model under test never competes with the load.
// An empty set means no pinning.
type CPUSplit struct {
	Target, Load unix.CPUSet
}

// String is the form ParseCPUs reads, e.g. "0:1".
func (c CPUSplit) String() string {
	return cpuList(&c.Target) + ":" + cpuList(&c.Load)
}

func cpuIDs(s *unix.CPUSet) []int {
	var ids []int
	for i := 0; i < len(s)*64; i++ {
		if s.IsSet(i) {
			ids = append(ids, i)
		}
	}
	return ids
}

func cpuList(s *unix.CPUSet) string {
	var parts []string
	for i := 0; i < len(s)*64; i++ {
		if s.IsSet(i) {
			parts = append(parts, strconv.Itoa(i))
		}
	}
	return strings.Join(parts, ",")
}

// ParseCPUs reads "TARGETS:LOAD", each a list like "0", "0-3" or "0,2";
// either side may be empty (no pinning for it).
func ParseCPUs(s string) (CPUSplit, error) {
	t, l, ok := strings.Cut(s, ":")
	if !ok {
		return CPUSplit{}, fmt.Errorf("--cpus %q: want TARGET_CPUS:LOAD_CPUS, e.g. 0:1", s)
	}
	var c CPUSplit
	if err := parseCPUList(t, &c.Target); err != nil {
		return CPUSplit{}, fmt.Errorf("--cpus %q: %w", s, err)
	}
	if err := parseCPUList(l, &c.Load); err != nil {
		return CPUSplit{}, fmt.Errorf("--cpus %q: %w", s, err)
	}
	return c, nil
}

func parseCPUList(s string, set *unix.CPUSet) error {
	set.Zero()
	if s == "" {
		return nil
	}
	max := len(set) * 64
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b >= max {
			return fmt.Errorf("bad CPU list element %q", part)
		}
		for i := a; i <= b; i++ {
			set.Set(i)
		}
	}
	return nil
}

// DefaultCPUs splits the CPUs this process may use: the first half for the
// targets, the rest for the load ("0:1" on two cores). With one CPU there is
// nothing to split, and nothing is pinned.
func DefaultCPUs() CPUSplit {
	var mine unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mine); err != nil || mine.Count() < 2 {
		return CPUSplit{}
	}
	var ids []int
	for i := 0; i < len(mine)*64; i++ {
		if mine.IsSet(i) {
			ids = append(ids, i)
		}
	}
	var c CPUSplit
	half := len(ids) / 2
	for i, id := range ids {
		if i < half {
			c.Target.Set(id)
		} else {
			c.Load.Set(id)
		}
	}
	return c
}

// Validate reports the first parameter no run could use.
func (c *Config) Validate() error {
	switch {
	case len(c.Models) == 0:
		return fmt.Errorf("no models to run")
	case c.Users < 1:
		return fmt.Errorf("--users %d: want at least 1", c.Users)
	case !(c.SpawnRate > 0) || math.IsInf(c.SpawnRate, 0):
		return fmt.Errorf("--spawn-rate %g: want a number more than 0", c.SpawnRate)
	case c.RunTime < time.Second:
		return fmt.Errorf("--run-time %s: want at least 1s", c.RunTime)
	case c.Workers < 1 || c.Workers > 64:
		return fmt.Errorf("--workers %d: want 1..64", c.Workers)
	case c.Pool < 0:
		return fmt.Errorf("--pool %d: want 0 (the model's default) or more", c.Pool)
	case c.MaxFDs < 0:
		return fmt.Errorf("--max-fds %d: want 0 (inherit) or more", c.MaxFDs)
	case c.ConnectTimeout < 0:
		return fmt.Errorf("--connect-timeout %s: want more than 0", c.ConnectTimeout)
	case c.ResponseTimeout < 0:
		return fmt.Errorf("--response-timeout %s: want more than 0", c.ResponseTimeout)
	case c.Out == "":
		return fmt.Errorf("no output folder")
	case c.KneeFailPct < 0 || c.KneeFailPct > 100 || math.IsNaN(c.KneeFailPct):
		return fmt.Errorf("--knee-failures %g: want a percentage, 0..100", c.KneeFailPct)
	case c.KneeP95 < 0 || math.IsNaN(c.KneeP95) || math.IsInf(c.KneeP95, 0):
		return fmt.Errorf("--knee-p95: want a duration more than 0")
	case c.Repeat < 0 || c.Repeat > 100:
		return fmt.Errorf("--repeat %d: want 1..100", c.Repeat)
	case c.Generator != "" && !slices.Contains(Generators, c.Generator):
		return fmt.Errorf("--generator %q: want go, python or both", c.Generator)
	case c.Sources < 0 || c.Sources > 256:
		return fmt.Errorf("%d source addresses: want 0..256", c.Sources)
	}
	if len(c.Sweep) > 0 && len(c.SweepRPS) > 0 {
		return fmt.Errorf("--sweep and --sweep-rps: a sweep's steps are users or rates, not both")
	}
	if len(c.SweepRPS) > 0 && (c.Generator == "python" || c.Generator == "both") {
		return fmt.Errorf("--sweep-rps with --generator %s: Python workers cannot hold an arrival rate (a Locust user waits for each answer before its next request); use --generator go", c.Generator)
	}
	prevRate := 0.0
	for _, r := range c.SweepRPS {
		if !(r > 0) || r > 1e6 || math.IsInf(r, 0) {
			return fmt.Errorf("--sweep-rps: %g: want requests a second above 0, at most 1000000", r)
		}
		if r == prevRate {
			return fmt.Errorf("--sweep-rps: %g twice in a row", r)
		}
		prevRate = r
	}
	prev := 0
	for _, u := range c.Sweep {
		if u < 1 || u > 100000 {
			return fmt.Errorf("--sweep: %d users: want 1..100000 a step", u)
		}
		if u == prev {
			return fmt.Errorf("--sweep: %d twice in a row", u)
		}
		prev = u
	}
	for _, r := range c.SpawnRates {
		if !(r > 0) || math.IsInf(r, 0) {
			return fmt.Errorf("spawn rate %g: want a number more than 0", r)
		}
	}
	if err := c.checkCPUs(); err != nil {
		return err
	}
	modes := map[string]bool{}
	for _, m := range c.OnEMFILE {
		if !slices.Contains(EMFILEModes, m) {
			return fmt.Errorf("--on-emfile %q: want %s, or both comma-separated", m, strings.Join(EMFILEModes, " or "))
		}
		if modes[m] {
			return fmt.Errorf("--on-emfile: %q twice", m)
		}
		modes[m] = true
	}
	found := false
	for _, u := range UserClasses {
		found = found || u == c.UserClass
	}
	if !found {
		return fmt.Errorf("--user-class %q: want one of %s", c.UserClass, strings.Join(UserClasses, ", "))
	}
	seen := map[string]bool{}
	for _, m := range c.Models {
		if seen[m] {
			return fmt.Errorf("--models: %q twice", m)
		}
		seen[m] = true
	}
	return nil
}

// checkCPUs refuses a CPU this process may not run on: pinning to it
// would fail for every model.
func (c *Config) checkCPUs() error {
	var mine unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mine); err != nil {
		return nil // nothing to check against; starting will say
	}
	for _, set := range []*unix.CPUSet{&c.CPUs.Target, &c.CPUs.Load} {
		for i := 0; i < len(set)*64; i++ {
			if set.IsSet(i) && !mine.IsSet(i) {
				return fmt.Errorf("--cpus %s: CPU %d is not one this process may use (%s)", c.CPUs, i, cpuList(&mine))
			}
		}
	}
	return nil
}

// locustRunTime is Locust's -t form: whole seconds.
func locustRunTime(d time.Duration) string {
	return strconv.Itoa(int((d+time.Second-1)/time.Second)) + "s"
}
