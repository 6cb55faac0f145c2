package testbin

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a command a test started (a Locust master, a worker), its output
// kept for the test's checks and for failure messages.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Out  *Output // stdout and stderr, interleaved
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// Start runs name with args in a fresh temporary folder, with Python's
// output unbuffered and no bytecode written, and env added to the
// environment. When the test ends it is stopped (SIGTERM, then SIGKILL
// after 10 s) and, if the test failed, the end of its output logged.
func Start(t testing.TB, label string, env []string, name string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: label, Cmd: exec.Command(name, args...), Out: &Output{}, done: make(chan struct{})}
	p.Cmd.Stdout = p.Out
	p.Cmd.Stderr = p.Out
	p.Cmd.Dir = t.TempDir()
	p.Cmd.Env = append(append(os.Environ(), "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"), env...)
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
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

// Done is closed once the process has ended.
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
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", p.Name, p.err)
	return -1
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
