package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/launch"
	"serverlab/internal/locusts"
	"serverlab/internal/repo"
	"serverlab/internal/testbin"
	"serverlab/lab/runner"
)

func TestUpBadFlags(t *testing.T) {
	bin := filepath.Dir(testbin.Build(t, "serverlab/targets/cmd/target"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--workers", "x"}, `invalid value "x" for flag -workers`},
		{[]string{"extra"}, `unexpected argument "extra" (flags for the targets go after --)`},
		{[]string{"--models", ","}, `--models "," names no model`},
		{[]string{"--models", "epoll,nosuch"}, `--models: unknown model "nosuch"`},
		{[]string{"--models", "epoll,epoll"}, `--models: "epoll" twice`},
		{[]string{"--models", "select", "--target", "epoll"}, `--target "epoll" is not among the models started (select)`},
		{[]string{"--web-host", "localhost"}, `--web-host "localhost": want an IP address`},
		{[]string{"--port-base", "65500"}, `--port-base 65500: want 0 (free ports) or 1..`},
		{[]string{"--port-base", "8000", "--web-port", "8109"}, `port 8109 is epoll's, from --port-base 8000`},
		{[]string{"--on-emfile", "later"}, `--on-emfile "later": want wait or shed`},
		{[]string{"--workers", "-1"}, `--workers -1: want 0..64`},
		{[]string{"--cpus", "x"}, `--cpus "x"`},
	} {
		var out strings.Builder
		code := upMain(append([]string{"--bin", bin}, tc.args...), io.Discard, &out)
		if code != 2 || strings.Count(out.String(), "\n") != 1 || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want one line with %q", tc.args, code, out.String(), tc.want)
		}
	}
}

// A port already taken is refused in one line before anything starts.
func TestUpPortTaken(t *testing.T) {
	testbin.Build(t, "serverlab/boomer/cmd/boomer")
	bin := filepath.Dir(testbin.Build(t, "serverlab/targets/cmd/target"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	logs := filepath.Join(t.TempDir(), "logs")
	var out strings.Builder
	code := upMain([]string{"--bin", bin, "--models", "epoll", "--port-base", "0", "--master-port", "0",
		"--web-port", port, "--logs", logs}, io.Discard, &out)
	want := "lab up: --web-port: 127.0.0.1:" + port + " is taken"
	if code != 1 || strings.Count(out.String(), "\n") != 1 || !strings.HasPrefix(out.String(), want) {
		t.Errorf("exit %d, %q; want one line starting %q", code, out.String(), want)
	}
}

func TestUpHelp(t *testing.T) {
	var out strings.Builder
	if code := upMain([]string{"--help"}, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, f := range []string{"--workers N", "--models LIST", "--port-base PORT", "--web-host ADDRESS", "--web-port PORT",
		"--master-port PORT", "(default 5557)", "(default 8100)", "(default 8089)", "--max-fds N", "--pool N", "--on-emfile MODE", "(default 127.0.0.1)", "[-- target flags]"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("help lacks %q:\n%s", f, out.String())
		}
	}
	var usage strings.Builder
	helpMain(nil, &usage, io.Discard)
	if !strings.Contains(usage.String(), "  up ") {
		t.Errorf("lab help does not list up:\n%s", usage.String())
	}
}

func TestUpTargetArgs(t *testing.T) {
	all := []string{"single", "process", "epoll"}
	cfg := runner.UpConfig{Models: []string{"epoll"}, All: all, Workers: 1, PortBase: 8100, WebHost: "127.0.0.1",
		WebPort: 8089, MasterPort: 5557, Target: "epoll"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// A model's ports come from its place among all models, not among
	// those started, so that they stay put.
	if site, admin := cfg.Ports("epoll"); site != 8102 || admin != 8202 {
		t.Errorf("epoll on %d and %d", site, admin)
	}
}

// upRun is a `lab up` (or `make up`) started as a terminal would start a
// job: in its own process group, which Ctrl-C signals as a whole.
type upRun struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	out     bytes.Buffer
	done    chan struct{}
	web     string
	targets map[string][2]string // model: site, admin
	models  []string             // as the table lists them
}

func (u *upRun) Write(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.out.Write(p)
}

func (u *upRun) output() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.out.String()
}

var (
	upWebRE = regexp.MustCompile(`lab up: web UI on (http://\S+) \(bound to 127\.0\.0\.1\)`)
	upRowRE = regexp.MustCompile(`(?m)^(\w+)\s+(http://127\.0\.0\.1:\d+)\s+(http://127\.0\.0\.1:\d+)\s+\d+$`)
)

// startUp starts cmd and waits for the table of what is where.
func startUp(t *testing.T, cmd *exec.Cmd) *upRun {
	t.Helper()
	u := &upRun{cmd: cmd, done: make(chan struct{}), targets: map[string][2]string{}}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p, err := launch.Run(cmd, launch.Options{Log: u})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-p.Exited()
		p.OutputEnded(5 * time.Second) // its last words are in, once done
		close(u.done)
	}()
	t.Cleanup(func() {
		select {
		case <-u.done:
		default:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			select {
			case <-u.done:
			case <-time.After(60 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		}
	})
	if err := p.Await(context.Background(), 3*time.Minute, launch.Line("Ctrl-C stops everything.")); err != nil {
		t.Fatalf("%s not up: %v\n%s", cmd.Args, err, u.output())
	}
	out := u.output()
	m := upWebRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no web UI line:\n%s", out)
	}
	u.web = m[1]
	for _, r := range upRowRE.FindAllStringSubmatch(out, -1) {
		u.targets[r[1]] = [2]string{r[2], r[3]}
		u.models = append(u.models, r[1])
	}
	return u
}

// interrupt is Ctrl-C: SIGINT to the job's group.
func (u *upRun) interrupt(t *testing.T) {
	t.Helper()
	u.stop(t, func([]procID) { syscall.Kill(-u.cmd.Process.Pid, syscall.SIGINT) }, "SIGINT")
}

// terminate is `kill PID` from another shell: SIGTERM to bin/lab alone.
func (u *upRun) terminate(t *testing.T) {
	t.Helper()
	u.stop(t, func(procs []procID) {
		for _, p := range append(procs, procID{pid: u.cmd.Process.Pid, comm: filepath.Base(u.cmd.Path)}) {
			if p.comm == "lab" {
				syscall.Kill(p.pid, syscall.SIGTERM)
				return
			}
		}
		t.Fatalf("no lab process among %v", procs)
	}, "SIGTERM")
}

// stop signals the job and checks that it ended cleanly: every process
// it had must be gone afterwards, children of children included.
func (u *upRun) stop(t *testing.T, signal func([]procID), sig string) {
	t.Helper()
	procs := descendants(u.cmd.Process.Pid)
	if len(procs) == 0 {
		t.Fatal("no child processes found")
	}
	signal(procs)
	select {
	case <-u.done:
	case <-time.After(90 * time.Second):
		t.Fatalf("still running 90 s after %s:\n%s", sig, u.output())
	}
	// make reports an interrupt as a failure of its own; lab up does not.
	if code := u.cmd.ProcessState.ExitCode(); code != 0 && !(sig == "SIGINT" && filepath.Base(u.cmd.Path) == "make") {
		t.Errorf("exit %d after %s:\n%s", code, sig, u.output())
	}
	if !strings.Contains(u.output(), "lab up: stopped; every process it started has ended") {
		t.Errorf("no stop line:\n%s", u.output())
	}
	// Orphans are reaped by init in a moment: a process still there after
	// that was left behind.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		for _, p := range procs {
			if alive(p) {
				left = append(left, fmt.Sprintf("%d (%s)", p.pid, p.comm))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %s", strings.Join(left, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type procID struct {
	pid   int
	start string // start time in clock ticks: a reused pid is another process
	comm  string
}

// stat reads pid's command name, parent, and start time from /proc.
func stat(pid int) (p procID, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procID{}, 0, false
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return procID{}, 0, false
	}
	f := strings.Fields(s[closing+1:])
	if len(f) < 20 {
		return procID{}, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	// Fields after the name: state ppid pgrp ... starttime is the 20th.
	return procID{pid: pid, start: f[19], comm: s[open+1 : closing]}, ppid, f[0] != "Z"
}

func alive(p procID) bool {
	q, _, ok := stat(p.pid)
	return ok && q.start == p.start
}

// descendants are every process below root, however deep.
func descendants(root int) []procID {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]procID{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ppid, ok := stat(pid); ok {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []procID
	queue := []int{root}
	for len(queue) > 0 {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
		queue = queue[1:]
	}
	return out
}

// listeners are the addresses something listens on at TCP port, from
// /proc/net/tcp and tcp6, comma-separated.
func listeners(t *testing.T, port string) string {
	t.Helper()
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	hexPort := fmt.Sprintf(":%04X", p)
	var out []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[3] != "0A" || !strings.HasSuffix(fields[1], hexPort) {
				continue
			}
			addr := strings.TrimSuffix(fields[1], hexPort)
			if len(addr) == 8 {
				v, _ := strconv.ParseUint(addr, 16, 32)
				addr = fmt.Sprintf("%d.%d.%d.%d", v&0xff, v>>8&0xff, v>>16&0xff, v>>24)
			}
			out = append(out, addr)
		}
	}
	return strings.Join(out, ",")
}

// cpusAllowed is the CPUs a process may run on.
func cpusAllowed(t *testing.T, pid string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			// In the form CPUSplit prints: 0,1,2 rather than 0-2.
			set, err := runner.ParseCPUs(strings.TrimSpace(v) + ":")
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSuffix(set.String(), ":")
		}
	}
	return ""
}

// post sends the web UI's form, as the page does.
func post(t *testing.T, u string, form url.Values) map[string]any {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	return v
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// served is how many 200s a target counted, from its admin /metrics.
func served(t *testing.T, admin string) int {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "serverlab_responses_total{") && strings.Contains(line, `status="200"`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += int(v)
		}
	}
	return n
}

// swarmOn starts LabUsers through the web UI's form with model as the
// target and host in the Host field, waits until the target at
// servedBy has served more requests, and stops the run.
func swarmOn(t *testing.T, u *upRun, model, host, servedBy, admins string, users int) {
	t.Helper()
	swarmClass(t, u, "LabUser", model, host, servedBy, admins, users)
}

func swarmClass(t *testing.T, u *upRun, class, model, host, servedBy, admins string, users int) {
	t.Helper()
	before := served(t, u.targets[servedBy][1])
	form := url.Values{"user_count": {strconv.Itoa(users)}, "spawn_rate": {strconv.Itoa(users)}, "host": {host},
		"user_classes": {class}, "target": {model}, "target_admin_url": {admins}}
	// The master's class picker runs the class chosen, and only it.
	if r := post(t, u.web+"/swarm", form); r["success"] != true || fmt.Sprint(r["user_classes"]) != "["+class+"]" {
		t.Fatalf("swarm on %s: %v", model, r)
	}
	deadline := time.Now().Add(60 * time.Second)
	for served(t, u.targets[servedBy][1]) < before+2*users {
		if time.Now().After(deadline) {
			t.Fatalf("%s served %d requests in 60 s:\n%s", servedBy, served(t, u.targets[servedBy][1])-before, u.output())
		}
		time.Sleep(250 * time.Millisecond)
	}
	var ts struct {
		Target   string `json:"target"`
		AdminURL string `json:"admin_url"`
		Answered bool   `json:"answered"`
	}
	getJSON(t, u.web+"/target/stats", &ts)
	if ts.Target != model || ts.AdminURL != u.targets[model][1] || !ts.Answered {
		t.Errorf("Target tab during the %s run: %+v", model, ts)
	}
	// The master hears of requests and users from the workers' reports,
	// every few seconds.
	deadline = time.Now().Add(30 * time.Second)
	for {
		var st struct {
			Stats []struct {
				Name        string `json:"name"`
				NumRequests int    `json:"num_requests"`
				NumFailures int    `json:"num_failures"`
			} `json:"stats"`
			Workers []struct {
				UserCount int `json:"user_count"`
			} `json:"workers"`
		}
		getJSON(t, u.web+"/stats/requests", &st)
		var problems []string
		for _, s := range st.Stats {
			if s.Name == "Aggregated" && (s.NumRequests == 0 || s.NumFailures != 0) {
				problems = append(problems, fmt.Sprintf("%d requests, %d failures", s.NumRequests, s.NumFailures))
			}
		}
		for i, w := range st.Workers {
			if w.UserCount == 0 {
				problems = append(problems, fmt.Sprintf("worker %d of %d has no users", i+1, len(st.Workers)))
			}
		}
		if len(problems) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s run, in the master's stats: %s", model, strings.Join(problems, "; "))
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if r := post(t, u.web+"/stop", nil); r["success"] != true {
		t.Fatalf("stop: %v", r)
	}
	time.Sleep(time.Second) // requests under way end
}

// TestUpEndToEnd runs the README's commands: `bin/lab up` with two models
// and two Go workers, a Python worker added, a run on each target through
// the web UI's form, then Ctrl-C.
func TestUpEndToEnd(t *testing.T) {
	t.Parallel()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runner.ChooseLocust(root, "", io.Discard); err != nil {
		t.Fatalf("Locust: %v (scripts/setup.sh installs it)", err)
	}
	testbin.Build(t, "serverlab/targets/cmd/target")
	testbin.Build(t, "serverlab/boomer/cmd/boomer")
	lab := testbin.Build(t, "serverlab/cmd/lab")
	master := testbin.FreePort(t)
	cmd := exec.Command(lab, "up", "--models", "epoll,select", "--workers", "2",
		"--port-base", "0", "--web-port", "0", "--master-port", strconv.Itoa(master), "--logs", t.TempDir(), "--", "--idle-timeout", "30s")
	cmd.Dir = root
	u := startUp(t, cmd)
	if len(u.targets) != 2 || u.targets["epoll"][0] == "" || u.targets["select"][0] == "" {
		t.Fatalf("targets %v in:\n%s", u.targets, u.output())
	}
	// What follows -- reaches every target as it is.
	pids := regexp.MustCompile(`(?m)^(?:epoll|select)\s.*\s(\d+)$`).FindAllStringSubmatch(u.output(), -1)
	if len(pids) != 2 {
		t.Errorf("target pids %v in:\n%s", pids, u.output())
	}
	for _, pid := range pids {
		b, _ := os.ReadFile("/proc/" + pid[1] + "/cmdline")
		if !strings.HasSuffix(string(b), "\x00--idle-timeout\x0030s\x00") {
			t.Errorf("target %s runs %q", pid[1], strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	// The pinned Locust, said so; its web UI on loopback only.
	pinned, err := locusts.PinnedVersion()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.output(), "lab up: Locust "+pinned+": "+filepath.Join(root, ".venv", "bin", "locust")+" (the version requirements.txt pins") {
		t.Errorf("not the pinned Locust %s:\n%s", pinned, u.output())
	}
	web, _ := url.Parse(u.web)
	if got := listeners(t, web.Port()); got != "127.0.0.1" {
		t.Errorf("web UI listens on %q, want 127.0.0.1 only", got)
	}
	// Targets on the first half of the cores, the load on the other, as
	// lab run pins them.
	if cpus := runner.DefaultCPUs(); cpus.Target.Count() > 0 {
		want := strings.Split(cpus.String(), ":")
		for _, m := range u.models {
			pid := regexp.MustCompile(`(?m)^` + m + `\s.*\s(\d+)$`).FindStringSubmatch(u.output())
			if got := cpusAllowed(t, pid[1]); got != want[0] {
				t.Errorf("target %s on CPUs %s, want %s", m, got, want[0])
			}
		}
		load := 0
		for _, p := range descendants(cmd.Process.Pid) {
			if p.comm == "boomer" || strings.HasPrefix(p.comm, "locust") {
				load++
				if got := cpusAllowed(t, strconv.Itoa(p.pid)); got != want[1] {
					t.Errorf("%s %d on CPUs %s, want %s", p.comm, p.pid, got, want[1])
				}
			}
		}
		if load != 3 {
			t.Errorf("%d load processes (a master, 2 workers) under lab up: %v", load, descendants(cmd.Process.Pid))
		}
	}
	// A Python worker as the README adds it: it needs nothing but the
	// master, which gives it the target's URL as the run's host.
	py := testbin.Start(t, "python worker", nil, filepath.Join(root, ".venv", "bin", "locust"),
		"-f", filepath.Join(root, "locustfile.py"), "--worker", "--master-port", strconv.Itoa(master))
	// A Python worker says nothing when it joins; the web UI counts it.
	py.Await(t, 60*time.Second, launch.Poll("3 workers in the web UI", func() bool {
		n, _ := runner.WorkerCount(u.web)
		return n >= 3
	}))

	admins := "epoll=" + u.targets["epoll"][1] + ",select=" + u.targets["select"][1]
	swarmOn(t, u, "select", "", "select", admins, 6)
	if n := served(t, u.targets["epoll"][1]); n != 0 {
		t.Errorf("epoll served %d requests during the run on select", n)
	}
	selectServed := served(t, u.targets["select"][1])
	swarmOn(t, u, "epoll", "", "epoll", admins, 6)
	if n := served(t, u.targets["select"][1]); n != selectServed {
		t.Errorf("select served %d more requests during the run on epoll", n-selectServed)
	}
	// A Host typed in the form wins over the target.
	epollServed := served(t, u.targets["epoll"][1])
	swarmOn(t, u, "epoll", u.targets["select"][0], "select", admins, 6)
	if n := served(t, u.targets["epoll"][1]); n != epollServed {
		t.Errorf("epoll served %d more requests during the run on the typed host", n-epollServed)
	}
	// A model that is not running is refused with a reason, not sent
	// to a port nobody listens on.
	r := post(t, u.web+"/swarm", url.Values{"user_count": {"1"}, "spawn_rate": {"1"}, "host": {""},
		"user_classes": {"LabUser"}, "target": {"thread"}})
	if r["success"] != false || !strings.Contains(fmt.Sprint(r["message"]), "target thread is not running here: choose one of epoll, select") {
		t.Errorf("swarm on thread: %v", r)
	}
	// The site as a browser or curl sees it, from the table.
	resp, err := http.Get(u.targets["epoll"][0] + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("GET the epoll site: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	u.interrupt(t)
}

// TestMakeUp runs `make up` as the README shows it (every model), on free
// ports: the web UI's Target choice reaches each model and that model
// alone. A target killed under it is reported; then SIGTERM to bin/lab, as
// `kill` sends it, stops the rest.
func TestMakeUp(t *testing.T) {
	t.Parallel()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make: %v", err)
	}
	master := testbin.FreePort(t)
	cmd := exec.Command("make", "--no-print-directory", "up",
		fmt.Sprintf("ARGS=--port-base 0 --web-port 0 --master-port %d --logs %s", master, t.TempDir()))
	cmd.Dir = root
	u := startUp(t, cmd)
	all, err := runner.ListModels(filepath.Join(root, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(u.models, ",") != strings.Join(all, ",") {
		t.Fatalf("started %v, bin/target lists %v:\n%s", u.models, all, u.output())
	}
	if n, err := runner.WorkerCount(u.web); err != nil || n != 1 {
		t.Errorf("%d workers (%v)", n, err)
	}
	var admins []string
	for _, m := range u.models {
		admins = append(admins, m+"="+u.targets[m][1])
	}
	// One user that never waits, for a moment on each target in turn.
	for _, m := range u.models {
		before := map[string]int{}
		for _, o := range u.models {
			before[o] = served(t, u.targets[o][1])
		}
		swarmClass(t, u, "HammerUser", m, "", m, strings.Join(admins, ","), 1)
		for _, o := range u.models {
			if n := served(t, u.targets[o][1]); o != m && n != before[o] {
				t.Errorf("%s served %d requests during the run on %s", o, n-before[o], m)
			}
		}
	}
	// A target that dies is said, and the rest stays up.
	pid := regexp.MustCompile(`(?m)^single\s.*\s(\d+)$`).FindStringSubmatch(u.output())
	if pid == nil {
		t.Fatalf("no pid for single in:\n%s", u.output())
	}
	n, _ := strconv.Atoi(pid[1])
	syscall.Kill(n, syscall.SIGKILL)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(u.output(), "lab up: target single exited (signal: killed)") {
		if time.Now().After(deadline) {
			t.Fatalf("no word of the killed target:\n%s", u.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n, err := runner.WorkerCount(u.web); err != nil || n != 1 {
		t.Errorf("after a target died: %d workers (%v)", n, err)
	}
	if resp, err := http.Get(u.targets["epoll"][0] + "/"); err != nil {
		t.Errorf("after single died, epoll: %v", err)
	} else {
		resp.Body.Close()
	}
	u.terminate(t)
}
