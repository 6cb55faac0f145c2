// Package proctest runs bin/target as a real process for the tests of the
// blocking and process models, and looks at it from outside: its metrics,
// its child processes, its exit.
package proctest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/internal/launch"
	"serverlab/internal/repo"
	"serverlab/internal/testbin"
)

// Target is a running bin/target.
type Target struct {
	t      testing.TB
	cmd    *exec.Cmd
	Addr   string // the model's address
	Admin  string // the admin endpoint's address
	Pid    int
	stderr testbin.Output
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

// Start runs bin/target --model model on a free port with an admin
// endpoint and extra flags, and waits until it is listening. The target is
// killed when the test ends if it still runs.
func Start(t testing.TB, model string, extra ...string) *Target {
	t.Helper()
	bin := testbin.Build(t, "serverlab/targets/cmd/target")
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--model", model, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--docroot", filepath.Join(root, "targets", "www")}, extra...)
	tg := &Target{t: t, cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	tg.cmd.Stderr = &tg.stderr
	// A group of its own, so that a test can signal it the way a terminal
	// does.
	tg.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p, err := launch.Start(tg.cmd, 30*time.Second)
	if err != nil {
		t.Fatalf("target --model %s: %v\n%s", model, err, tg.stderr.String())
	}
	tg.Addr, tg.Admin, tg.Pid = p.Ready.Addr, p.Ready.Admin, p.Pid()
	go func() {
		<-p.Exited()
		tg.err = p.Err()
		close(tg.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-tg.exited:
		default:
			tg.cmd.Process.Kill()
			<-tg.exited
		}
	})
	return tg
}

// SignalGroup sends sig to the target's process group, as Ctrl-C in a
// terminal sends SIGINT to the foreground job.
func (tg *Target) SignalGroup(sig syscall.Signal) error {
	return syscall.Kill(-tg.Pid, sig)
}

// InterruptGroup sends SIGINT to the target's group, as Ctrl-C does, while
// the response to the request sent on c is in flight, and checks that the
// response still arrives whole and that the target then exits 0.
func (tg *Target) InterruptGroup(c net.Conn) {
	tg.t.Helper()
	if err := tg.SignalGroup(syscall.SIGINT); err != nil {
		tg.t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		tg.t.Fatalf("in-flight request cut by SIGINT to the group: %v\n%s", err, tg.Stderr())
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		tg.t.Fatalf("in-flight response cut by SIGINT to the group: %v\n%s", err, tg.Stderr())
	}
	if resp.StatusCode != 200 {
		tg.t.Fatalf("in-flight request: status %d", resp.StatusCode)
	}
	tg.Wait(10 * time.Second)
}

// Stderr is what the target logged so far.
func (tg *Target) Stderr() string { return tg.stderr.String() }

// Metric reads one sample from /metrics: name is the full series as
// printed before the value, labels included, or a bare metric name whose
// first series is taken.
func (tg *Target) Metric(name string) float64 {
	tg.t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + tg.Admin + "/metrics")
	if err != nil {
		tg.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		series, value, ok := strings.Cut(l, " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			tg.t.Fatalf("metrics: %q: %v", l, err)
		}
		return v
	}
	tg.t.Fatalf("metrics: no series %s", name)
	return 0
}

// Eventually polls cond until it holds, failing the test with what after
// the bound; the bound is generous: it is for hangs, not for speed.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop sends SIGTERM and waits for the target to exit; it fails the test
// unless it exits 0 within bound.
func (tg *Target) Stop(bound time.Duration) {
	tg.t.Helper()
	tg.cmd.Process.Signal(syscall.SIGTERM)
	tg.Wait(bound)
}

// Wait waits for the target to exit after a signal sent otherwise; it
// fails the test unless it exits 0 within bound.
func (tg *Target) Wait(bound time.Duration) {
	tg.t.Helper()
	select {
	case <-tg.exited:
	case <-time.After(bound):
		tg.t.Fatalf("target still running %v after the signal\n%s", bound, tg.Stderr())
	}
	if tg.err != nil {
		tg.t.Fatalf("target exited with %v\n%s", tg.err, tg.Stderr())
	}
}

// Children lists the processes whose parent is pid, zombies included, from
// /proc.
func Children(pid int) []Proc {
	var kids []Proc
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if pr, ok := ReadProc(p); ok && pr.PPid == pid {
			kids = append(kids, pr)
		}
	}
	return kids
}

// Proc is one line of /proc/PID/stat, the fields that matter here.
type Proc struct {
	Pid, PPid int
	State     byte   // R, S, D, Z (zombie), ...
	Start     string // start time in clock ticks: tells a reused pid from the original
}

// Alive reports whether p still runs: not reaped, not a zombie, and not a
// new process that got the same pid.
func (p Proc) Alive() bool {
	now, ok := ReadProc(p.Pid)
	return ok && now.Start == p.Start && now.State != 'Z'
}

func (p Proc) String() string { return fmt.Sprintf("pid %d (state %c)", p.Pid, p.State) }

// ReadProc reads /proc/pid/stat; false if no such process exists.
func ReadProc(pid int) (Proc, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Proc{}, false
	}
	// The command name, in parentheses, may hold spaces: parse after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Proc{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return Proc{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return Proc{}, false
	}
	return Proc{Pid: pid, PPid: ppid, State: f[0][0], Start: f[19]}, true
}

// Dial opens a TCP connection to the target.
func (tg *Target) Dial() net.Conn {
	tg.t.Helper()
	c, err := net.DialTimeout("tcp", tg.Addr, 5*time.Second)
	if err != nil {
		tg.t.Fatalf("dial: %v", err)
	}
	tg.t.Cleanup(func() { c.Close() })
	return c
}

// Get sends one request on c and reads one response head and body,
// returning the status code and body.
func Get(t testing.TB, c net.Conn, path string, close bool) (int, string) {
	t.Helper()
	req := "GET " + path + " HTTP/1.1\r\nHost: t\r\n"
	if close {
		req += "Connection: close\r\n"
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// MainAsReaper is a TestMain for tests of models with child processes: it
// makes this test process the reaper of orphans, so that a child the
// target leaves behind when it exits stays visible here (in Children)
// instead of being reaped by init.
func MainAsReaper(m *testing.M) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "prctl(PR_SET_CHILD_SUBREAPER): %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
