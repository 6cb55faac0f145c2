package runner

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"serverlab/internal/locusts"
)

// targetArgs are bin/target's flags for one run.
func targetArgs(cfg *Config, s step) []string {
	args := []string{"--model", s.model, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--docroot", filepath.Join(cfg.Repo, "targets", "www")}
	if cfg.MaxFDs > 0 {
		args = append(args, "--max-fds", strconv.Itoa(cfg.MaxFDs))
	}
	if cfg.Pool > 0 {
		args = append(args, "--workers", strconv.Itoa(cfg.Pool))
	}
	if s.onEMFILE != "" {
		args = append(args, "--on-emfile", s.onEMFILE)
	}
	return args
}

// masterArgs are the headless Locust master's arguments for one run
// against the target at addr (its metrics at admin), the master's
// ZeroMQ socket on port.
func masterArgs(cfg *Config, f features, locustfile, base, addr, admin string, port int, s step) []string {
	args := []string{"-f", locustfile, "--master", "--headless",
		"--expect-workers", strconv.Itoa(cfg.Workers),
		"-u", strconv.Itoa(cfg.Users), "-r", strconv.FormatFloat(cfg.SpawnRate, 'g', -1, 64),
		"-t", locustRunTime(cfg.RunTime),
		"--csv", base, "--csv-full-history", "--html", base + ".html",
		"--host", "http://" + addr,
		"--master-bind-host", "127.0.0.1", "--master-bind-port", strconv.Itoa(port),
	}
	if f.target {
		args = append(args, "--target", s.model)
	}
	if f.timeouts {
		args = append(args, "--connect-timeout", seconds(cfg.connectTimeout()),
			"--response-timeout", seconds(cfg.responseTimeout()))
	}
	if f.targetAdmin && admin != "" {
		args = append(args, "--target-admin-url", "http://"+admin)
	}
	return append(args, cfg.UserClass)
}

// workerArgs are a Go worker's flags.
func workerArgs(cfg *Config, port int) []string {
	args := []string{"--master-host", "127.0.0.1", "--master-port", strconv.Itoa(port)}
	if cfg.MaxFDs > 0 {
		args = append(args, "--max-fds", strconv.Itoa(cfg.MaxFDs))
	}
	return args
}

// seconds is a duration as the locustfile's options take it.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// features are the options that the locustfile and bin/target in use
// have: the lab passes what they understand, so that it runs with an
// older checkout too, and says what it could not pass.
type features struct {
	target      bool // locustfile --target MODEL
	timeouts    bool // locustfile --connect-timeout, --response-timeout
	targetAdmin bool // locustfile --target-admin-url
	onEMFILE    bool // bin/target --on-emfile
}

// detect asks the master (-f locustfile --help lists the locustfile's own
// options) and bin/target (--help) what they take.
func detect(loc locusts.Locust, locustfile, target string) (features, error) {
	cmd := exec.Command(loc.Path, "-f", locustfile, "--help")
	cmd.Dir = filepath.Dir(locustfile)
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	// Debian's 2.12.1 prints its help on stderr.
	help, err := cmd.CombinedOutput()
	if err != nil {
		return features{}, &helpError{cmd: loc.Path + " -f " + locustfile + " --help", err: err, out: string(help)}
	}
	thelp, err := exec.Command(target, "--help").CombinedOutput()
	if err != nil {
		return features{}, &helpError{cmd: target + " --help", err: err, out: string(thelp)}
	}
	has := func(text []byte, opt string) bool {
		for _, f := range strings.Fields(string(text)) {
			if f == opt || strings.HasPrefix(f, opt+"=") {
				return true
			}
		}
		return false
	}
	return features{
		target:      has(help, "--target"),
		timeouts:    has(help, "--connect-timeout") && has(help, "--response-timeout"),
		targetAdmin: has(help, "--target-admin-url"),
		onEMFILE:    has(thelp, "--on-emfile"),
	}, nil
}

type helpError struct {
	cmd string
	err error
	out string
}

func (e *helpError) Error() string {
	last := ""
	for _, l := range strings.Split(strings.TrimSpace(e.out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			last = l
		}
	}
	return e.cmd + ": " + e.err.Error() + ": " + last
}

func (e *helpError) Unwrap() error { return e.err }

// check refuses, before anything starts, options the user gave that the
// locustfile or bin/target in use cannot take.
func (f features) check(cfg *Config) error {
	if !f.timeouts && (cfg.ConnectTimeout != 0 || cfg.ResponseTimeout != 0) {
		return fmt.Errorf("--connect-timeout, --response-timeout: %s has no such options", filepath.Join(cfg.Repo, "locustfile.py"))
	}
	if !f.onEMFILE && len(cfg.OnEMFILE) > 0 {
		return fmt.Errorf("--on-emfile: %s has no such flag (make build)", filepath.Join(cfg.BinDir, "target"))
	}
	return nil
}
