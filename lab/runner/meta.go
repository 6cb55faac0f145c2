package runner

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Meta is OUT/meta.json: what was run, on what, and when. It is rewritten
// after every model so that an interrupted run still describes itself.
type Meta struct {
	Started     time.Time  `json:"started"`
	Ended       *time.Time `json:"ended,omitempty"`
	Interrupted bool       `json:"interrupted,omitempty"`
	Error       string     `json:"error,omitempty"`
	Models      []string   `json:"models"`
	Parameters  Parameters `json:"parameters"`
	Locust      Software   `json:"locust"`
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
}

// Software names a program and its version.
type Software struct {
	Path    string `json:"path"`
	Version string `json:"version"`
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

// ModelRun is one model's run.
type ModelRun struct {
	Model      string             `json:"model"`
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
}

// CPUUse is the CPU time a target (its children included) used under load,
// from the first requests seen to the master's end, and how long that was.
type CPUUse struct {
	Seconds float64 `json:"seconds"`
	Over    float64 `json:"over_seconds"`
}

func newMeta(cfg *Config, preset string, now time.Time) *Meta {
	m := &Meta{
		Started: now,
		Models:  cfg.Models,
		Parameters: Parameters{
			Preset:     preset,
			Users:      cfg.Users,
			SpawnRate:  cfg.SpawnRate,
			RunTime:    cfg.RunTime.String(),
			UserClass:  cfg.UserClass,
			Workers:    cfg.Workers,
			TargetPool: cfg.Pool,
			MaxFDs:     cfg.MaxFDs,
			TargetCPUs: cpuList(&cfg.CPUs.Target),
			LoadCPUs:   cpuList(&cfg.CPUs.Load),
		},
		Go:    runtime.Version(),
		Cores: runtime.NumCPU(),
		Runs:  []ModelRun{},
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:]) +
			" " + unix.ByteSliceToString(u.Machine[:])
	}
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		m.Limits = Limits{NoFileSoft: rl.Cur, NoFileHard: rl.Max}
	}
	m.Git = gitState(cfg.Repo)
	return m
}

func gitState(root string) Git {
	var g Git
	out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return g
	}
	g.Commit = strings.TrimSpace(string(out))
	out, err = exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	g.Dirty = err == nil && len(strings.TrimSpace(string(out))) > 0
	return g
}

// write replaces OUT/meta.json whole, so a reader never sees half of it.
func (m *Meta) write(dir string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".meta.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "meta.json"))
}
