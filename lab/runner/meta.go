package runner

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/lab/meta"
)

// newMeta describes a run about to start.
func newMeta(cfg *Config, f features, preset string, now time.Time) *meta.Meta {
	m := &meta.Meta{
		Started: now,
		Models:  cfg.Models,
		Parameters: meta.Parameters{
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
			Sweep:      cfg.Sweep,
			SweepRPS:   cfg.SweepRPS,
			Generator:  cfg.Generator,
			SpawnRates: cfg.SpawnRates,
		},
		Go:    runtime.Version(),
		Cores: runtime.NumCPU(),
		Runs:  []meta.ModelRun{},
	}
	if cfg.KneeFailPct > 0 {
		v := cfg.KneeFailPct
		m.Parameters.KneeFailPct = &v
	}
	if cfg.KneeP95 > 0 {
		v := cfg.KneeP95
		m.Parameters.KneeP95 = &v
	}
	if cfg.Repeat > 1 {
		m.Parameters.Repeat = cfg.Repeat
	}
	if f.timeouts {
		c, r := cfg.connectTimeout().Seconds(), cfg.responseTimeout().Seconds()
		m.Parameters.ConnectTimeout, m.Parameters.ResponseTimeout = &c, &r
	}
	if f.onEMFILE {
		m.Parameters.OnEMFILE = cfg.onEMFILE()
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:]) +
			" " + unix.ByteSliceToString(u.Machine[:])
	}
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		m.Limits = meta.Limits{NoFileSoft: rl.Cur, NoFileHard: rl.Max}
	}
	m.Git = gitState(cfg.Repo)
	return m
}

// GitCommitEnv names the commit a checkout without .git was built from
// (the lab container's image sets it).
const GitCommitEnv = "SERVERLAB_GIT_COMMIT"

func gitState(root string) meta.Git {
	var g meta.Git
	out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		// An image has no .git: its build passes the commit in instead.
		g.Commit = strings.TrimSpace(os.Getenv(GitCommitEnv))
		return g
	}
	g.Commit = strings.TrimSpace(string(out))
	out, err = exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	g.Dirty = err == nil && len(strings.TrimSpace(string(out))) > 0
	return g
}
