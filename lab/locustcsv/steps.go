package locustcsv

import (
	"math"
	"strconv"
	"strings"
)

// Suffixes of the files serverlab writes beside Locust's: a sweep's steps
// (serverlab_locust/sweep.py) and the target's own figures
// (serverlab_locust/target.py).
const (
	StepsSuffix        = "_steps.csv"
	StepFailuresSuffix = "_step_failures.csv"
	TargetSuffix       = "_target.csv"
	// ServerSuffix is bin/lab run's own sampling of the target during a
	// sweep: its process tree's CPU time and its /metrics.
	ServerSuffix = "_server.csv"
)

// Step is one row of PREFIX_steps.csv: one step of a sweep, its figures
// over its steady window only. Times are milliseconds; percentiles are
// NaN when the window had no requests.
type Step struct {
	Step, Users, TargetUsers int
	Start, End               float64 // Unix seconds
	Requests, Failures       int
	RPS                      float64
	Median, P95, P99         float64
	Average, Max             float64
	WorkerCPU, WorkerCPUPeak float64 // the busiest load generator's, % of a core
	MasterCPU                float64
	Workers                  int
	// An open model's step (a rate sweep); TargetRate is 0 for a step of
	// users, and the rest NaN. TargetRate is the requests a second that
	// fell due; Due and Late count the window's due requests and those
	// that found every user busy (the pool ran dry), Backlog those queued
	// at its end, MaxLag (ms) the longest wait for a free user, Engaged
	// the users that took a request.
	TargetRate                          float64
	Due, Late, Backlog, MaxLag, Engaged float64
}

// Rate says whether the step is an arrival rate (an open model).
func (s Step) Rate() bool { return s.TargetRate > 0 }

// LatePct is the share of the window's due requests that waited for a
// free user, in percent; 0 when none fell due.
func (s Step) LatePct() float64 {
	if !(s.Due > 0) {
		return 0
	}
	return 100 * s.Late / s.Due
}

// FailurePct is the window's failures over its requests, in percent.
func (s Step) FailurePct() float64 {
	if s.Requests == 0 {
		return 0
	}
	return 100 * float64(s.Failures) / float64(s.Requests)
}

// StepFailure is one row of PREFIX_step_failures.csv.
type StepFailure struct {
	Step, TargetUsers int
	Error             string
	Occurrences       int
}

// ReadSteps reads a PREFIX_steps.csv.
func ReadSteps(path string) ([]Step, error) {
	t, err := openTable(path, true)
	if err != nil {
		return nil, err
	}
	defer t.close()
	c, err := t.columns("Step", "Users", "Target Users", "Start", "End", "Requests", "Failures",
		"Requests/s", "Median Response Time", "95%", "99%", "Average Response Time", "Max Response Time",
		"Worker CPU %", "Worker CPU % Peak", "Master CPU %", "Workers")
	if err != nil {
		return nil, err
	}
	rc := map[string]int{}
	if i, err := t.col("Target Rate"); err == nil {
		rc["Target Rate"] = i
		for _, n := range []string{"Due", "Late", "Backlog", "Max Lag", "Engaged Users"} {
			if rc[n], err = t.col(n); err != nil {
				return nil, err
			}
		}
	}
	nan := math.NaN()
	return readRows(t, func(r *rowReader) Step {
		s := Step{
			Step: r.int(c["Step"]), TargetUsers: r.int(c["Target Users"]),
			Start: r.float(c["Start"], false), End: r.float(c["End"], false),
			Requests: r.int(c["Requests"]), Failures: r.int(c["Failures"]),
			RPS:       r.float(c["Requests/s"], false),
			Median:    optional(r, c["Median Response Time"]),
			P95:       optional(r, c["95%"]),
			P99:       optional(r, c["99%"]),
			Average:   optional(r, c["Average Response Time"]),
			Max:       optional(r, c["Max Response Time"]),
			WorkerCPU: r.float(c["Worker CPU %"], false), WorkerCPUPeak: r.float(c["Worker CPU % Peak"], false),
			MasterCPU: r.float(c["Master CPU %"], false), Workers: r.int(c["Workers"]),
		}
		s.Users = s.TargetUsers
		if strings.TrimSpace(t.rec[c["Users"]]) != "" {
			s.Users = r.int(c["Users"])
		}
		// Files of user sweeps written before rate sweeps lack these.
		s.Due, s.Late, s.Backlog, s.MaxLag, s.Engaged = nan, nan, nan, nan, nan
		if rate, ok := rc["Target Rate"]; ok {
			if v := optional(r, rate); v > 0 {
				s.TargetRate = v
				s.Due, s.Late, s.Backlog = optional(r, rc["Due"]), optional(r, rc["Late"]), optional(r, rc["Backlog"])
				s.MaxLag, s.Engaged = optional(r, rc["Max Lag"]), optional(r, rc["Engaged Users"])
			}
		}
		return s
	})
}

// optional is a number, or NaN for an empty cell.
func optional(r *rowReader, col int) float64 {
	if strings.TrimSpace(r.t.rec[col]) == "" {
		return math.NaN()
	}
	return r.float(col, false)
}

// ReadStepFailures reads a PREFIX_step_failures.csv.
func ReadStepFailures(path string) ([]StepFailure, error) {
	t, err := openTable(path, true)
	if err != nil {
		return nil, err
	}
	defer t.close()
	rs := &resolver{t: t}
	cStep, cUsers, cErr, cOcc := rs.col("Step"), rs.col("Target Users"), rs.col("Error"), rs.col("Occurrences")
	if rs.err != nil {
		return nil, rs.err
	}
	return readRows(t, func(r *rowReader) StepFailure {
		f := StepFailure{Step: r.int(cStep), TargetUsers: r.int(cUsers), Error: r.str(cErr), Occurrences: r.int(cOcc)}
		return f
	})
}

// TargetSample is one row of PREFIX_target.csv: the target's own figures
// at one second. A figure the target did not give is NaN, never 0.
type TargetSample struct {
	Time                   float64 // Unix seconds
	CPUSeconds             float64 // of the process tree so far (PREFIX_server.csv only)
	WorkerCPUSeconds       float64 // of the busiest load generator so far (PREFIX_server.csv only)
	WorkerWaitSeconds      float64 // its threads' time in the run queue so far (PREFIX_server.csv only)
	MasterCPUSeconds       float64
	LoadBusySeconds        float64 // the load generators' CPUs, busy and in all (PREFIX_server.csv only)
	LoadSeconds            float64
	Answered               bool
	OpenFDs, MaxFDs        float64
	EMFILE, OtherAcceptErr float64 // counters since the target started
	Shed                   float64
	Active, Accepted       float64
	Threads, Children      float64
	RSS                    float64 // bytes
	CPU                    float64 // % of one core since the previous sample
	Error                  string
}

// ReadTarget reads a PREFIX_target.csv.
func ReadTarget(path string) ([]TargetSample, error) {
	t, err := openTable(path, true)
	if err != nil {
		return nil, err
	}
	defer t.close()
	c, err := t.columns("Timestamp", "Answered", "Error", "Open FDs", "Max FDs", "EMFILE", "Other Accept Errors",
		"Connections Shed", "Active Connections", "Accepted Connections", "Threads", "Child Processes", "RSS Bytes", "CPU %")
	if err != nil {
		return nil, err
	}
	return readRows(t, func(r *rowReader) TargetSample {
		ts, perr := strconv.ParseFloat(strings.TrimSpace(t.rec[c["Timestamp"]]), 64)
		if perr != nil {
			r.fail(c["Timestamp"], "not a Unix time")
		}
		s := TargetSample{
			Time: ts, CPUSeconds: math.NaN(), WorkerCPUSeconds: math.NaN(), WorkerWaitSeconds: math.NaN(), MasterCPUSeconds: math.NaN(),
			LoadBusySeconds: math.NaN(), LoadSeconds: math.NaN(), Answered: strings.TrimSpace(t.rec[c["Answered"]]) == "1", Error: r.str(c["Error"]),
			OpenFDs: optional(r, c["Open FDs"]), MaxFDs: optional(r, c["Max FDs"]),
			EMFILE: optional(r, c["EMFILE"]), OtherAcceptErr: optional(r, c["Other Accept Errors"]),
			Shed: optional(r, c["Connections Shed"]), Active: optional(r, c["Active Connections"]),
			Accepted: optional(r, c["Accepted Connections"]), Threads: optional(r, c["Threads"]),
			Children: optional(r, c["Child Processes"]), RSS: optional(r, c["RSS Bytes"]), CPU: optional(r, c["CPU %"]),
		}
		return s
	})
}

// ReadServer reads a PREFIX_server.csv: what bin/lab run sampled of the
// target itself. Its samples are all Answered; a figure not read is NaN.
func ReadServer(path string) ([]TargetSample, error) {
	t, err := openTable(path, true)
	if err != nil {
		return nil, err
	}
	defer t.close()
	c, err := t.columns("Timestamp", "CPU Seconds", "Active Connections", "Open FDs", "Threads",
		"Child Processes", "RSS Bytes", "EMFILE", "Connections Shed")
	if err != nil {
		return nil, err
	}
	// Columns a later lab added: absent, they read as not measured.
	opt := func(r *rowReader, name string) float64 {
		if i, err := t.col(name); err == nil {
			return optional(r, i)
		}
		return math.NaN()
	}
	return readRows(t, func(r *rowReader) TargetSample {
		s := TargetSample{
			Time: r.float(c["Timestamp"], false), Answered: true, CPUSeconds: optional(r, c["CPU Seconds"]),
			Active: optional(r, c["Active Connections"]), OpenFDs: optional(r, c["Open FDs"]),
			Threads: optional(r, c["Threads"]), Children: optional(r, c["Child Processes"]),
			RSS: optional(r, c["RSS Bytes"]), EMFILE: optional(r, c["EMFILE"]), Shed: optional(r, c["Connections Shed"]),
			MaxFDs: math.NaN(), OtherAcceptErr: math.NaN(), Accepted: math.NaN(), CPU: math.NaN(),
			WorkerCPUSeconds: opt(r, "Busiest Worker CPU Seconds"), MasterCPUSeconds: opt(r, "Master CPU Seconds"),
			WorkerWaitSeconds: opt(r, "Busiest Worker Wait Seconds"),
			LoadBusySeconds:   opt(r, "Load CPUs Busy Seconds"), LoadSeconds: opt(r, "Load CPUs Seconds"),
		}
		return s
	})
}
