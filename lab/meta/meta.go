// Package meta is a lab run folder's meta.json: what was run, on what, and
// when. `lab run` writes it (package runner) and the report reads it
// (package report); this is the one place its fields are defined.
package meta

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"serverlab/lab/regular"
)

// File is the name of the file in a run folder.
const File = "meta.json"

// Meta is OUT/meta.json. It is rewritten after every model so that an
// interrupted run still describes itself.
type Meta struct {
	Started     time.Time  `json:"started"`
	Ended       *time.Time `json:"ended,omitempty"`
	Interrupted bool       `json:"interrupted,omitempty"`
	Error       string     `json:"error,omitempty"`
	Models      []string   `json:"models"`
	Parameters  Parameters `json:"parameters"`
	Locust      Locust     `json:"locust"`
	Go          string     `json:"go"`
	Kernel      string     `json:"kernel"`
	Cores       int        `json:"cores"`
	Limits      Limits     `json:"limits"`
	Git         Git        `json:"git"`
	Runs        []ModelRun `json:"runs"`
}

// Parameters are the load every model got.
type Parameters struct {
	Preset     string  `json:"preset,omitempty"`
	Users      int     `json:"users"`
	SpawnRate  float64 `json:"spawn_rate"`
	RunTime    string  `json:"run_time"`
	UserClass  string  `json:"user_class"`
	Workers    int     `json:"workers"`
	TargetPool int     `json:"target_pool,omitempty"`
	MaxFDs     int     `json:"max_fds,omitempty"`
	TargetCPUs string  `json:"target_cpus,omitempty"`
	LoadCPUs   string  `json:"load_cpus,omitempty"`
	// The users' timeouts, in seconds, as given to the master; absent when
	// the locustfile had no such options (its users then never gave up).
	ConnectTimeout  *float64 `json:"connect_timeout_s,omitempty"`
	ResponseTimeout *float64 `json:"response_timeout_s,omitempty"`
	// What the targets did at EMFILE, one run of each model per mode;
	// absent when bin/target had no --on-emfile (it then waited).
	OnEMFILE []string `json:"on_emfile,omitempty"`
	// Sweep is the user count of each step of a step-load sweep, each held
	// RunTime after its ramp at SpawnRate; absent for a run at one load.
	Sweep []int `json:"sweep,omitempty"`
	// SweepRPS is the arrival rate (requests a second, all workers
	// together) of each step of an open-model sweep, each held RunTime;
	// Users is then the pool the rates draw on.
	SweepRPS []float64 `json:"sweep_rps,omitempty"`
	// Generator is go, python or both; absent: go (older runs).
	Generator string `json:"generator,omitempty"`
	// Repeat is how many times each model ran; absent: once.
	Repeat int `json:"repeat,omitempty"`
	// The service level a sweep's knee is judged against: failures under
	// KneeFailPct percent and p95 under KneeP95 ms; absent: the report's
	// defaults.
	KneeFailPct *float64 `json:"knee_failure_pct,omitempty"`
	KneeP95     *float64 `json:"knee_p95_ms,omitempty"`
	// SpawnRates, when a model ran once per spawn rate.
	SpawnRates []float64 `json:"spawn_rates,omitempty"`
}

// Locust is the master that ran, and why that one.
type Locust struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	// Chosen says where the choice came from: "pinned" (requirements.txt's
	// version), "--locust" or "LAB_LOCUST".
	Chosen string `json:"chosen,omitempty"`
}

// Limits are the lab's own RLIMIT_NOFILE, which targets and workers inherit
// unless --max-fds sets theirs.
type Limits struct {
	NoFileSoft uint64 `json:"nofile_soft"`
	NoFileHard uint64 `json:"nofile_hard"`
}

// Git is the checkout the binaries were built from, as far as the working
// tree tells.
type Git struct {
	Commit string `json:"commit,omitempty"`
	Dirty  bool   `json:"dirty,omitempty"`
}

// ModelRun is one run of one model.
type ModelRun struct {
	Model string `json:"model"`
	// Name is the run's name and its files' prefix when it differs from
	// the model's (one model run in several --on-emfile modes).
	Name       string             `json:"name,omitempty"`
	OnEMFILE   string             `json:"on_emfile,omitempty"`
	Generator  string             `json:"generator,omitempty"`
	SpawnRate  float64            `json:"spawn_rate,omitempty"`
	Repeat     int                `json:"repeat,omitempty"`
	Started    time.Time          `json:"started"`
	Ended      time.Time          `json:"ended"`
	TargetAddr string             `json:"target_addr,omitempty"`
	TargetPID  int                `json:"target_pid,omitempty"`
	MasterExit int                `json:"master_exit"`
	Completed  bool               `json:"completed"`
	Error      string             `json:"error,omitempty"`
	Requests   int64              `json:"requests"`
	Failures   int64              `json:"failures"`
	Peaks      map[string]float64 `json:"target_peaks,omitempty"`
	Final      map[string]float64 `json:"target_final,omitempty"`
	CPU        *CPUUse            `json:"target_cpu,omitempty"`
	Files      []string           `json:"files"`
	// LostWorker says why the run ended early when the Locust master
	// stopped it because its last worker's heartbeats stopped: the load
	// generator was lost, not the model. Empty otherwise.
	LostWorker string `json:"lost_worker,omitempty"`
}

// Label is the run's name: its files' prefix and its row in the report.
func (r *ModelRun) Label() string {
	if r.Name != "" {
		return r.Name
	}
	return r.Model
}

// CPUUse is the CPU time a target (its children included) used under load,
// from the first requests seen to the master's end, and how long that was.
type CPUUse struct {
	Seconds float64 `json:"seconds"`
	Over    float64 `json:"over_seconds"`
}

// Write replaces DIR/meta.json whole, so a reader never sees half of it.
func (m *Meta) Write(dir string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("meta.json: %w", err)
	}
	tmp := filepath.Join(dir, "."+File+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, File))
}

// Read reads DIR/meta.json. A folder without one (a plain locust --csv
// export) gives an error that errors.Is(err, fs.ErrNotExist).
func Read(dir string) (*Meta, error) {
	path := filepath.Join(dir, File)
	b, err := regular.ReadFile(path, 64<<20)
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}
