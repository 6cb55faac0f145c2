package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/internal/locusts"
	"serverlab/internal/repo"
	"serverlab/internal/testbin"
	"serverlab/lab/meta"
	"serverlab/lab/runner"
)

// Bad flags: one line, exit 2, and no results folder made.
func TestRunBadFlags(t *testing.T) {
	var mine unix.CPUSet
	unix.SchedGetaffinity(0, &mine)
	absent := 0
	for mine.IsSet(absent) {
		absent++
	}
	out := filepath.Join(t.TempDir(), "results")
	for _, args := range [][]string{
		{"--spawn-rate", "NaN"},
		{"--spawn-rate", "Inf"},
		{"--spawn-rate", "-Inf"},
		{"--spawn-rate", "1e999"},
		{"--connect-timeout", "NaN"},
		{"--connect-timeout", "0"},
		{"--connect-timeout", "-1"},
		{"--connect-timeout", "Inf"},
		{"--response-timeout", "soon"},
		{"--response-timeout", "-5s"},
		{"--on-emfile", "drop"},
		{"--on-emfile", "wait,wait"},
		{"--on-emfile", ","},
		{"--cpus", fmt.Sprintf("%d:%d", absent, absent)},
		{"--users", "x"},
		{"--users", "0"},
		{"--preset", "huge"},
		{"--run-time", "soon"},
		{"--spawn-rate", "-1"},
		{"--cpus", "0"},
		{"--cpus", "0:z"},
		{"--workers", "0"},
		{"--user-class", "Nobody"},
		{"--max-fds", "-5"},
		{"--models", ","},
		{"--nope"},
		{"extra"},
	} {
		var errs strings.Builder
		code := runMain(append(args, "--out", out), io.Discard, &errs)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if s := errs.String(); strings.Count(s, "\n") != 1 || !strings.HasPrefix(s, "lab run: ") {
			t.Errorf("%v: want one line, got %q", args, s)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v: %s made", args, out)
		}
	}
}

// More users than the workers' descriptors can hold are refused before
// the run, with what to do instead; the c10k preset plans its steps,
// workers and the targets' limit from this machine's limits.
func TestRunRefusesUsersPastTheLimits(t *testing.T) {
	l := runner.ReadLimits()
	out := filepath.Join(t.TempDir(), "results")
	too := strconv.Itoa(l.NoFile)
	for _, args := range [][]string{
		{"--users", too, "--workers", "1"},
		{"--preset", "c10k", "--workers", "1", "--sweep", "1000," + too},
		{"--users", "100", "--max-fds", strconv.Itoa(l.NoFile + 1)},
	} {
		var errs strings.Builder
		code := runMain(append(args, "--out", out), io.Discard, &errs)
		if code != 2 || strings.Count(errs.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want 2 and one line", args, code, errs.String())
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v: %s made", args, out)
		}
		if !strings.Contains(errs.String(), "open-files") {
			t.Errorf("%v: %q does not name the open-files limit", args, errs.String())
		}
	}
	var errs strings.Builder
	runMain([]string{"--users", too, "--workers", "1", "--out", out}, io.Discard, &errs)
	want := fmt.Sprintf("lab run: %d users on 1 worker(s) is %d a worker, but a worker holds a connection per user and its open-files limit %d leaves room for %d: use --workers 2 or more",
		l.NoFile, l.NoFile, l.NoFile, l.NoFile-16)
	if !strings.HasPrefix(errs.String(), want) {
		t.Errorf("said %q, want %q", errs.String(), want)
	}

	f, err := parseRunFlags([]string{"--preset", "c10k"})
	if err != nil {
		t.Fatal(err)
	}
	steps, workers, fds := runner.C10K(l)
	c := f.cfg
	if !slices.Equal(c.Sweep, steps) || c.Workers != workers || c.MaxFDs != fds || c.UserClass != "LabUser" {
		t.Errorf("c10k: sweep %v, %d workers, --max-fds %d, %s; want %v, %d, %d, LabUser", c.Sweep, c.Workers, c.MaxFDs, c.UserClass, steps, workers, fds)
	}
}

func TestRunNewFlags(t *testing.T) {
	f, err := parseRunFlags([]string{"--connect-timeout", "2.5", "--response-timeout", "500ms", "--on-emfile", "wait, shed", "--locust", "/opt/locust"})
	if err != nil {
		t.Fatal(err)
	}
	c := f.cfg
	if c.ConnectTimeout != 2500*time.Millisecond || c.ResponseTimeout != 500*time.Millisecond ||
		strings.Join(c.OnEMFILE, ",") != "wait,shed" || c.Locust != "/opt/locust" {
		t.Errorf("%+v", c)
	}
	if f, err = parseRunFlags(nil); err != nil || f.cfg.ConnectTimeout != 0 || f.cfg.OnEMFILE != nil || f.cfg.Locust != "" {
		t.Errorf("defaults: %+v %v", f, err)
	}
}

// The help is the flags' own text: every flag is in it.
func TestRunHelp(t *testing.T) {
	var out, errs strings.Builder
	if code := runMain([]string{"--help"}, &out, &errs); code != 0 || errs.Len() != 0 {
		t.Fatalf("exit %d, %s", code, errs.String())
	}
	var x runFlags
	var a, b, c, d, e string
	runFlagSet(&x, &a, &b, &c, &d, &e).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "\n  --"+f.Name+" ") {
			t.Errorf("--%s not in the help", f.Name)
		}
	})
	for _, want := range []string{"--on-emfile MODE", "--connect-timeout D", "(default 5s)", "$LAB_LOCUST"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunPresets(t *testing.T) {
	f, err := parseRunFlags([]string{"--preset", "quick", "--users", "7", "--cpus", "none"})
	if err != nil {
		t.Fatal(err)
	}
	c := f.cfg
	if c.Users != 7 || c.SpawnRate != 20 || c.RunTime != 5*time.Second || c.UserClass != "LabUser" || c.CPUs.Target.Count() != 0 {
		t.Errorf("quick + --users 7: %+v", c)
	}
	f, err = parseRunFlags([]string{"--preset", "max", "--run-time", "3", "--cpus", "0:1"})
	if err != nil {
		t.Fatal(err)
	}
	c = f.cfg
	if c.UserClass != "HammerUser" || c.RunTime != 3*time.Second || !c.CPUs.Target.IsSet(0) || !c.CPUs.Load.IsSet(1) {
		t.Errorf("max + --run-time 3: %+v", c)
	}
	f, err = parseRunFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	c = f.cfg
	if f.preset != "lab" || c.Users != 1000 || c.SpawnRate != 100 || c.RunTime != time.Minute || c.Workers != 1 || len(c.Models) != 0 {
		t.Errorf("defaults: %+v", c)
	}
	f, err = parseRunFlags([]string{"--models", "epoll, single"})
	if err != nil || strings.Join(f.cfg.Models, ",") != "epoll,single" {
		t.Errorf("--models: %v %v", f, err)
	}
}

func TestRunUnknownModel(t *testing.T) {
	bin := filepath.Dir(testbin.Build(t, "serverlab/targets/cmd/target"))
	var out strings.Builder
	code := runMain([]string{"--bin", bin, "--models", "epoll,nosuch", "--out", t.TempDir()}, io.Discard, &out)
	if code != 2 || strings.Count(out.String(), "\n") != 1 || !strings.Contains(out.String(), `unknown model "nosuch"`) {
		t.Errorf("exit %d, %q", code, out.String())
	}
}

// needLocust finds a Locust master, or skips (fails under CI).
func needLocust(t *testing.T) {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runner.ChooseLocust(root, "", io.Discard); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Locust: %v", err)
		}
		t.Skipf("Locust: %v (scripts/setup.sh installs it)", err)
	}
}

// TestRunEndToEnd runs two models for a few seconds each with real
// targets, workers and a real Locust master, and checks what it leaves.
func TestRunEndToEnd(t *testing.T) {
	t.Parallel()
	needLocust(t)
	target := testbin.Build(t, "serverlab/targets/cmd/target")
	boomer := testbin.Build(t, "serverlab/boomer/cmd/boomer")
	if filepath.Dir(target) != filepath.Dir(boomer) {
		t.Fatalf("target and boomer built apart: %s, %s", target, boomer)
	}
	out := filepath.Join(t.TempDir(), "run")
	var log strings.Builder
	code := runMain([]string{
		"--preset", "quick", "--models", "epoll,single", "--run-time", "4s",
		"--max-fds", "1024", "--bin", filepath.Dir(target), "--out", out,
	}, io.Discard, &log)
	if code != 0 {
		t.Fatalf("lab run: exit %d\n%s\n%s", code, log.String(), logs(out))
	}
	b, err := os.ReadFile(filepath.Join(out, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta meta.Meta
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	// The pinned Locust ran, not the first on PATH (Debian's, after setup).
	pinned, err := locusts.PinnedVersion()
	if err != nil {
		t.Fatal(err)
	}
	if meta.Locust.Version != pinned || meta.Locust.Chosen != "pinned" ||
		!strings.Contains(log.String(), "lab: Locust "+pinned+": "+meta.Locust.Path+" (the version requirements.txt pins") {
		t.Errorf("Locust %+v; console:\n%s", meta.Locust, log.String())
	}
	if strings.Join(meta.Models, ",") != "epoll,single" || meta.Ended == nil || meta.Locust.Version == "" ||
		meta.Kernel == "" || meta.Cores < 1 || meta.Parameters.UserClass != "LabUser" || meta.Parameters.Users != 20 {
		t.Errorf("meta.json: %s", b)
	}
	for _, r := range meta.Runs {
		if !r.Completed || r.Requests == 0 {
			t.Errorf("%s: %+v", r.Model, r)
		}
		if r.Final[`serverlab_responses_total{status="200"}`] == 0 {
			t.Errorf("%s: the target counted no 200 responses: %v", r.Model, r.Final)
		}
		for _, f := range []string{"_stats.csv", "_stats_history.csv", "_failures.csv", ".html", ".target.log", ".locust.log", ".boomer-1.log", ".metrics.txt"} {
			if st, err := os.Stat(filepath.Join(out, r.Model+f)); err != nil || st.Size() == 0 {
				t.Errorf("%s%s: missing or empty", r.Model, f)
			}
		}
		stats, _ := os.ReadFile(filepath.Join(out, r.Model+"_stats.csv"))
		if !strings.Contains(string(stats), "Aggregated") {
			t.Errorf("%s_stats.csv has no Aggregated row", r.Model)
		}
	}
	if len(meta.Runs) != 2 {
		t.Fatalf("%d runs in meta.json", len(meta.Runs))
	}
	for _, f := range []string{"report.md", "report.html"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Errorf("report: %v", err)
			continue
		}
		for _, m := range []string{"epoll", "single"} {
			if !strings.Contains(string(b), m) {
				t.Errorf("%s does not name %s", f, m)
			}
		}
		// The servers' side, from meta.json: real targets, real CPU time.
		if !strings.Contains(string(b), "Locust "+pinned+", 20 LabUser users") || !strings.Contains(string(b), "timeouts: connect ") {
			t.Errorf("%s does not say what ran:\n%s", f, b)
		}
		if !strings.Contains(string(b), "peak open conns") || !regexp.MustCompile(`epoll(</td><td>|\s*\|\s*)wait(</td><td>|\s*\|\s*)[1-9]`).Match(b) {
			t.Errorf("%s has no server table with epoll's figures:\n%s", f, b)
		}
	}
	if pngs, _ := filepath.Glob(filepath.Join(out, "*.png")); len(pngs) == 0 {
		t.Errorf("no PNG charts in %s", out)
	}
	if !strings.Contains(log.String(), "[2/2] single") {
		t.Errorf("progress:\n%s", log.String())
	}
}

// logs are the tails of a run's logs, for a failed test's message.
func logs(dir string) string {
	var b strings.Builder
	paths, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, p := range paths {
		data, _ := os.ReadFile(p)
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "== %s\n%s\n", filepath.Base(p), strings.Join(lines, "\n"))
	}
	return b.String()
}

// make lab runs bin/lab as it is, so that it picks the pinned Locust
// itself and says so, rather than through a PATH arranged for it.
func TestMakeLabRunsTheLabAsIs(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	_, recipe, ok := strings.Cut(string(b), "\nlab: ")
	if !ok {
		t.Fatal("Makefile has no lab target")
	}
	lines := strings.Split(recipe, "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[1]) != "bin/lab run --preset lab" {
		t.Errorf("make lab runs %q", lines[1])
	}
}
