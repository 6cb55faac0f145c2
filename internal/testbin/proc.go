package testbin

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/launch"
)

// Proc is a command a test started (a Locust master, a worker), its output
// kept for the test's checks and for failure messages.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Out  *Output // stdout and stderr, interleaved
	p    *launch.Process
	done chan struct{}
}

// Start runs name with args in a fresh temporary folder, with Python's
// output unbuffered and no bytecode written, and env added to the
// environment, through the launcher. When the test ends it is stopped
// (SIGTERM, then SIGKILL after 10 s) and, if the test failed, the end of
// its output logged.
func Start(t testing.TB, label string, env []string, name string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: label, Cmd: exec.Command(name, args...), Out: &Output{}, done: make(chan struct{})}
	p.Cmd.Dir = t.TempDir()
	p.Cmd.Env = append(append(os.Environ(), "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"), env...)
	lp, err := launch.Run(p.Cmd, launch.Options{Log: p.Out})
	if err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	p.p = lp
	go func() {
		<-lp.Exited()
		lp.OutputEnded(5 * time.Second) // so that Out is whole once Done
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.Cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", p.Name, Tail(p.Out.String(), 60))
		}
	})
	return p
}

// Await waits at most d for the signs that the process is ready
// (launch.Master, launch.Answers, launch.WorkerJoined,
// launch.WorkersConnected...), and fails the test if one does not come.
func (p *Proc) Await(t testing.TB, d time.Duration, signs ...launch.Sign) {
	t.Helper()
	if err := p.p.Await(context.Background(), d, signs...); err != nil {
		t.Fatalf("%s: %v", p.Name, err)
	}
}

// Done is closed once the process has ended and its output is in Out.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) { p.Cmd.Process.Signal(sig) }

// Wait waits up to d for the process to end and returns its exit code; it
// fails the test if the process is still running, or did not exit.
func (p *Proc) Wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("%s still running after %v", p.Name, d)
	}
	err := p.p.Err()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", p.Name, err)
	return -1
}

// MasterArgs are the arguments every test's Locust master gets: the
// checkout's locustfile.py and a port for workers of its own on loopback.
func MasterArgs(t testing.TB, masterPort int, more ...string) []string {
	return append([]string{
		"-f", filepath.Join(Root(t), "locustfile.py"),
		"--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", strconv.Itoa(masterPort),
	}, more...)
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
