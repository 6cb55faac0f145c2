package runner

// The orchestration tests run the test binary itself as bin/target,
// bin/boomer and the Locust master, so that they check the runner alone:
// start order, readiness, CPU pinning, files, stopping and interrupts.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/internal/launch"
	"serverlab/internal/locusts"
	"serverlab/lab/meta"
)

func TestMain(m *testing.M) {
	switch os.Getenv("RUNNER_FAKE") {
	case "":
		os.Exit(m.Run())
	case "target":
		fakeTarget(os.Args[1:])
	case "boomer":
		fakeBoomer(os.Args[1:])
	case "locust":
		fakeLocust(os.Args[1:])
	}
	os.Exit(0)
}

// sid is this process's session.
func sid() int {
	s, _ := unix.Getsid(0)
	return s
}

func argValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func allowedCPUs() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// fakeHelp is what the fake target's --help prints: today's flags, and
// with RUNNER_FAKE_NEW=true the newer ones.
func fakeHelp(which string) {
	newer := os.Getenv("RUNNER_FAKE_NEW") == "true"
	switch which {
	case "target":
		fmt.Println("usage: target --model NAME [flags]\n  --max-fds N\n  --workers N")
		if newer {
			fmt.Println("  --on-emfile wait|shed")
		}
	}
}

// fakeList is the master's --list: argparse refuses the options the
// locustfile lacks, on stderr, exit 2.
func fakeList(args []string) {
	known := map[string]bool{"--target": true, "--list": true}
	if os.Getenv("RUNNER_FAKE_NEW") == "true" {
		known["--connect-timeout"], known["--response-timeout"], known["--target-admin-url"] = true, true, true
	}
	var unknown []string
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		if strings.HasPrefix(name, "--") && !known[name] {
			unknown = append(unknown, a)
		}
	}
	if len(unknown) > 0 {
		fmt.Fprintf(os.Stderr, "usage: locust [options]\nlocust: error: unrecognized arguments: %s\n", strings.Join(unknown, " "))
		os.Exit(2)
	}
	fmt.Println("LabUser")
}

func fakeTarget(args []string) {
	if len(args) > 0 && args[0] == "--help" {
		fakeHelp("target")
		return
	}
	model := argValue(args, "--model")
	fmt.Fprintf(os.Stderr, "args: %s\ncpus: %s\nsid: %d\n", strings.Join(args, " "), allowedCPUs(), sid())
	if model == "broken" {
		fmt.Fprintln(os.Stderr, "cannot start the broken model")
		os.Exit(3)
	}
	if model == "list" || len(args) > 0 && args[0] == "--list" {
		fmt.Print("alpha\tfirst\nbeta\tsecond\nbroken\tnever starts\n")
		return
	}
	if model == "dies" {
		time.AfterFunc(2*time.Second, func() {
			fmt.Fprintln(os.Stderr, "fatal error: thread exhaustion")
			os.Exit(4)
		})
	}
	// A child in the target's group, as prefork and process models have.
	child := exec.Command("sleep", "300")
	child.Start()
	fmt.Fprintf(os.Stderr, "child: %d\n", child.Process.Pid)
	admin, _ := net.Listen("tcp", "127.0.0.1:0")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go http.Serve(admin, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "serverlab_open_fds 9\nserverlab_os_threads 5\nserverlab_requests_total 42\n")
	}))
	fmt.Printf("%s\n%s\n", launch.AdminLine(admin.Addr().String()), launch.ReadyLine(ln.Addr().String(), model, os.Getpid()))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	child.Process.Kill()
	child.Wait()
}

// fakeBoomer holds a connection to the master until the master closes it.
func fakeBoomer(args []string) {
	fmt.Fprintf(os.Stderr, "cpus: %s\nsid: %d\npid: %d\n", allowedCPUs(), sid(), os.Getpid())
	// As bin/boomer says why its heartbeats went out late: the first gap
	// the master would not wait out is the one that tells.
	fmt.Fprintln(os.Stderr, `time=2026-12-01T18:48:45.100Z level=WARN msg="no heartbeat went to the master for 2.1s (a master's default limit is 4 to 5 s); meanwhile this worker used 80ms of CPU and its threads waited 1.9s for one: it was ready to run but got no CPU, the CPUs it may use being busy with other work"`)
	fmt.Fprintln(os.Stderr, `time=2026-12-01T18:48:49.100Z level=WARN msg="no heartbeat went to the master for 4.2s (a master's default limit is 4 to 5 s); meanwhile this worker used 80ms of CPU and its threads waited 3.9s for one: it was ready to run but got no CPU, the CPUs it may use being busy with other work"`)
	addr := net.JoinHostPort(argValue(args, "--master-host"), argValue(args, "--master-port"))
	var c net.Conn
	var err error
	for i := 0; i < 100; i++ {
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c.Read(make([]byte, 1))
	fmt.Fprintln(os.Stderr, `time=2026-12-01T18:49:09.100Z level=WARN msg="no heartbeat went to the master for 18.5s (a master's default limit is 4 to 5 s); meanwhile this worker used 610ms of CPU and its threads waited 39.54s for one: it was ready to run but got no CPU, the CPUs it may use being busy with other work"`)
}

const fakeHistoryHead = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size\n"

// fakeLocust is a master: it waits for its workers, "runs" for -t, writes
// the files and closes the workers' connections.
func fakeLocust(args []string) {
	if len(args) > 2 && args[2] == "--list" {
		fakeList(args)
		return
	}
	fmt.Fprintf(os.Stderr, "args: %s\ncpus: %s\nsid: %d\npid: %d\n", strings.Join(args, " "), allowedCPUs(), sid(), os.Getpid())
	base := argValue(args, "--csv")
	ln, err := net.Listen("tcp", "127.0.0.1:"+argValue(args, "--master-bind-port"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	want, _ := strconv.Atoi(argValue(args, "--expect-workers"))
	var workers []net.Conn
	for len(workers) < want {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(2)
		}
		workers = append(workers, c)
	}
	secs, _ := strconv.Atoi(strings.TrimSuffix(argValue(args, "-t"), "s"))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	os.WriteFile(base+"_stats_history.csv", []byte(fakeHistoryHead), 0o644)
	end := time.After(time.Duration(secs) * time.Second)
	tick := time.NewTicker(300 * time.Millisecond)
	n := 0
loop:
	for {
		select {
		case <-tick.C:
			n += 10
			fmt.Printf("         Aggregated   %d     1(0.10%%) |      3       1      10      3 |  %d.00        0.10\n", n, n)
			if filepath.Base(base) == "lost" {
				// Locust's own words when its only worker's heartbeats stop.
				fmt.Fprintln(os.Stderr, "[2026-12-01 18:48:48,688] vm/INFO/locust.runners: Worker vm_1 failed to send heartbeat, setting state to missing.")
				fmt.Fprintln(os.Stderr, "[2026-12-01 18:48:48,730] vm/INFO/locust.runners: The last worker went missing, stopping test.")
				break loop
			}
		case <-end:
			break loop
		case <-sig:
			break loop
		}
	}
	f, _ := os.OpenFile(base+"_stats_history.csv", os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "1700000000,20,,Aggregated,%d.0,0.1,3,4,5,6,7,8,9,10,11,12,13,%d,1,3,3.5,1,13,512\n", n, n)
	f.Close()
	if filepath.Base(base) == "idle" {
		// What Locust writes when no request finished.
		os.WriteFile(base+"_stats.csv", []byte("Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,95%,99%,100%\n"+
			",Aggregated,0,0,0,0.0,0,0,0.0,0.0,0.0,N/A,N/A,N/A,N/A\n"), 0o644)
		os.Exit(0)
	}
	os.WriteFile(base+"_stats.csv", []byte("Type,Name\n,Aggregated\n"), 0o644)
	os.WriteFile(base+".html", []byte("<html></html>"), 0o644)
	for _, c := range workers {
		c.Close()
	}
	os.Exit(1) // as Locust does when any request failed
}

// fakeSetup makes a bin dir, a checkout and a Locust that are all this
// test binary, with the options of today's locustfile and bin/target.
func fakeSetup(t *testing.T) (Config, *Choice) {
	return fakeSetupWith(t, false)
}

// fakeSetupWith makes the fakes; newer: with the timeouts, the target's
// admin URL and --on-emfile.
func fakeSetupWith(t *testing.T, newer bool) (Config, *Choice) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	root := filepath.Join(dir, "repo")
	os.Mkdir(bin, 0o755)
	os.Mkdir(root, 0o755)
	for _, name := range []string{"target", "boomer", "locust"} {
		script := fmt.Sprintf("#!/bin/sh\nGORACE=atexit_sleep_ms=0 RUNNER_FAKE=%s RUNNER_FAKE_NEW=%t exec %q \"$@\"\n", name, newer, exe)
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "locustfile.py"), []byte("# the fake master does not read it\n"), 0o644)
	cfg := Config{
		Models: []string{"alpha", "beta"}, Users: 20, SpawnRate: 20, RunTime: time.Second,
		Workers: 2, UserClass: "LabUser", MaxFDs: 512, Pool: 3,
		Out: filepath.Join(dir, "out"), BinDir: bin, Repo: root,
	}
	return cfg, &Choice{Locust: locusts.Locust{Path: filepath.Join(bin, "locust"), Version: "9.9.9"}, From: "--locust"}
}

func readMeta(t *testing.T, dir string) meta.Meta {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m meta.Meta
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func logValue(t *testing.T, path, key string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+": "); ok {
			return v
		}
	}
	t.Fatalf("%s: no %q line", path, key)
	return ""
}

func gone(pid int) bool {
	return unix.Kill(pid, 0) == unix.ESRCH
}

func TestRunOrchestration(t *testing.T) {
	cfg, loc := fakeSetup(t)
	var cpus unix.CPUSet
	unix.SchedGetaffinity(0, &cpus)
	first := -1
	for i := 0; i < len(cpus)*64 && first < 0; i++ {
		if cpus.IsSet(i) {
			first = i
		}
	}
	// Both sides on one CPU this process may use: pinning is visible as a
	// one-CPU list on any machine.
	cfg.CPUs.Target.Set(first)
	cfg.CPUs.Load.Set(first)
	var reported []string
	var out strings.Builder
	meta, err := Run(context.Background(), cfg, Options{Locust: loc, Progress: &out, Report: func(dir string, models []string) error {
		reported = models
		return nil
	}})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if strings.Join(reported, ",") != "alpha,beta" {
		t.Errorf("report made for %v", reported)
	}
	m := readMeta(t, cfg.Out)
	if m.Ended == nil || m.Interrupted || len(m.Runs) != 2 || m.Locust.Version != "9.9.9" || m.Parameters.Users != 20 {
		t.Fatalf("meta.json: %+v", m)
	}
	if meta.Runs[1].Model != "beta" {
		t.Errorf("runs %+v", meta.Runs)
	}
	for _, r := range m.Runs {
		if !r.Completed || r.Error != "" || r.MasterExit != 1 || r.Requests == 0 || r.Failures != 1 {
			t.Errorf("%s: %+v", r.Model, r)
		}
		if r.Peaks["serverlab_open_fds"] != 9 || r.Final["serverlab_requests_total"] != 42 {
			t.Errorf("%s: metrics %v %v", r.Model, r.Peaks, r.Final)
		}
		if r.CPU == nil || r.CPU.Seconds < 0 || r.CPU.Over <= 0 {
			t.Errorf("%s: target CPU %+v", r.Model, r.CPU)
		}
		base := filepath.Join(cfg.Out, r.Model)
		for _, f := range []string{"_stats.csv", "_stats_history.csv", ".html", ".target.log", ".locust.log", ".boomer-1.log", ".boomer-2.log", ".metrics.txt", "_server.csv"} {
			if _, err := os.Stat(base + f); err != nil {
				t.Errorf("missing %s", base+f)
			}
		}
		if len(r.Files) != 9 {
			t.Errorf("%s: files %v", r.Model, r.Files)
		}
		targs := logValue(t, base+".target.log", "args")
		for _, want := range []string{"--model " + r.Model, "--max-fds 512", "--workers 3", "--addr 127.0.0.1:0", "--admin-addr 127.0.0.1:0"} {
			if !strings.Contains(targs, want) {
				t.Errorf("target args %q lack %q", targs, want)
			}
		}
		margs := logValue(t, base+".locust.log", "args")
		for _, want := range []string{"--master --headless --expect-workers 2", "-u 20 -r 20 -t 1s", "--csv " + base + " --csv-full-history", "--host http://" + r.TargetAddr, "--target " + r.Model, " LabUser"} {
			if !strings.Contains(margs, want) {
				t.Errorf("master args %q lack %q", margs, want)
			}
		}
		for _, f := range []string{".target.log", ".locust.log", ".boomer-1.log"} {
			if got := logValue(t, base+f, "cpus"); got != strconv.Itoa(first) {
				t.Errorf("%s ran on CPUs %s, want %d", f, got, first)
			}
		}
		// Each process leads a session of its own: the scheduler's
		// autogroups then weigh the target apart from the load generators.
		sids := map[string]bool{strconv.Itoa(sid()): true}
		for _, f := range []string{".target.log", ".locust.log", ".boomer-1.log", ".boomer-2.log"} {
			sid := logValue(t, base+f, "sid")
			if f == ".target.log" && sid != strconv.Itoa(r.TargetPID) || f != ".target.log" && sid != logValue(t, base+f, "pid") || sids[sid] {
				t.Errorf("%s ran in session %s, not one of its own", f, sid)
			}
			sids[sid] = true
		}
		child, _ := strconv.Atoi(logValue(t, base+".target.log", "child"))
		if child == 0 || !gone(child) || !gone(r.TargetPID) {
			t.Errorf("%s: target %d or its child %d still running", r.Model, r.TargetPID, child)
		}
	}
	if !strings.Contains(out.String(), "[2/2] beta") || !strings.Contains(out.String(), "req/s") {
		t.Errorf("progress:\n%s", out.String())
	}
	// A second run into the same folder would mix two runs.
	if _, err := Run(context.Background(), cfg, Options{Locust: loc}); err == nil || !strings.Contains(err.Error(), "already holds a run") {
		t.Errorf("rerun into %s: %v", cfg.Out, err)
	}
}

func TestRunKeepsGoingPastABrokenModel(t *testing.T) {
	cfg, loc := fakeSetup(t)
	cfg.Models = []string{"broken", "alpha"}
	cfg.Workers = 1
	var out strings.Builder
	_, err := Run(context.Background(), cfg, Options{Locust: loc, Progress: &out})
	// The reason is in the error and on the console, not only meta.json.
	why := "target ended before listening (exit status 3): cannot start the broken model (see " + filepath.Join(cfg.Out, "broken.target.log") + ")"
	if err == nil || err.Error() != "failed: broken ("+why+")" {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(out.String(), "lab: broken failed: "+why+"\n") {
		t.Errorf("console:\n%s", out.String())
	}
	m := readMeta(t, cfg.Out)
	if len(m.Runs) != 2 || m.Runs[0].Completed || m.Runs[0].Error != why || !m.Runs[1].Completed {
		t.Fatalf("runs: %+v", m.Runs)
	}
}

// A master that stops the test because its last worker went missing ends
// the run early, and the run says so: the load generator was lost, the
// model did not stop. What was measured until then is kept and reported.
func TestRunLostWorker(t *testing.T) {
	cfg, loc := fakeSetup(t)
	cfg.Models = []string{"lost", "alpha"}
	cfg.Workers = 1
	var out strings.Builder
	var reported []string
	_, err := Run(context.Background(), cfg, Options{Locust: loc, Progress: &out, Report: func(dir string, models []string) error {
		reported = models
		return nil
	}})
	why := "the Locust master heard no heartbeat from its last worker in time and stopped the test: the load generator was lost, not the model"
	if err == nil || !strings.Contains(err.Error(), "failed: lost (ended early: "+why) || strings.Contains(err.Error(), "alpha") {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(out.String(), "lab: lost ended early: "+why) || strings.Contains(out.String(), "lost done") {
		t.Errorf("console:\n%s", out.String())
	}
	m := readMeta(t, cfg.Out)
	why += "; worker 1: no heartbeat went to the master for 4.2s (a master's default limit is 4 to 5 s); meanwhile this worker used 80ms of CPU and its threads waited 3.9s for one: it was ready to run but got no CPU, the CPUs it may use being busy with other work"
	if len(m.Runs) != 2 || m.Runs[0].LostWorker != why || !m.Runs[0].Completed || m.Runs[1].LostWorker != "" || m.Runs[1].Error != "" {
		t.Fatalf("runs: %+v", m.Runs)
	}
	if strings.Join(reported, ",") != "lost,alpha" {
		t.Errorf("report made for %v", reported)
	}
}

// A run in which no request finished measured nothing: it is named as
// such and left out of the report, which the others still get.
func TestRunNothingMeasured(t *testing.T) {
	cfg, loc := fakeSetup(t)
	cfg.Models = []string{"idle", "alpha"}
	var reported []string
	_, err := Run(context.Background(), cfg, Options{Locust: loc, Progress: io.Discard, Report: func(dir string, models []string) error {
		reported = models
		return nil
	}})
	if err == nil || !strings.Contains(err.Error(), "idle (no request finished") {
		t.Fatalf("Run: %v", err)
	}
	if strings.Join(reported, ",") != "alpha" {
		t.Errorf("report made for %v, want alpha", reported)
	}
}

func TestRunInterrupted(t *testing.T) {
	cfg, loc := fakeSetup(t)
	cfg.RunTime = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	// Interrupt once the first model's load is on: its master has printed stats.
	pw := &watchWriter{on: "req/s", fire: cancel}
	var reported []string
	_, err := Run(ctx, cfg, Options{Locust: loc, Progress: pw, Report: func(dir string, models []string) error {
		reported = models
		return nil
	}})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Run: %v\n%s", err, pw.b.String())
	}
	m := readMeta(t, cfg.Out)
	if !m.Interrupted || len(m.Runs) != 1 || m.Runs[0].Error != "interrupted" {
		t.Fatalf("meta: %+v", m)
	}
	// The master wrote its statistics on SIGTERM: they are kept and reported.
	if strings.Join(reported, ",") != "alpha" {
		t.Errorf("report made for %v", reported)
	}
	base := filepath.Join(cfg.Out, "alpha")
	child, _ := strconv.Atoi(logValue(t, base+".target.log", "child"))
	if !gone(child) || !gone(m.Runs[0].TargetPID) {
		t.Errorf("target %d or its child %d still running", m.Runs[0].TargetPID, child)
	}
	if !strings.Contains(pw.b.String(), "interrupted; what was measured is in "+cfg.Out) {
		t.Errorf("progress:\n%s", pw.b.String())
	}
}

type watchWriter struct {
	b    strings.Builder
	on   string
	fire func()
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.b.Write(p)
	if strings.Contains(string(p), w.on) {
		w.fire()
	}
	return len(p), nil
}

func TestListModels(t *testing.T) {
	cfg, _ := fakeSetup(t)
	got, err := ListModels(cfg.BinDir)
	if err != nil || strings.Join(got, ",") != "alpha,beta,broken" {
		t.Fatalf("ListModels = %v, %v", got, err)
	}
	if _, err := ListModels(t.TempDir()); err == nil {
		t.Fatal("no bin/target: no error")
	}
}
