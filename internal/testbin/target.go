package testbin

import (
	"os/exec"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/launch"
	"serverlab/internal/locusts"
	"serverlab/internal/repo"
)

// Target starts cmd, a bin/target, and waits for its ready line; the test
// fails if it does not come within 20 s. The target is stopped when the
// test ends: SIGTERM, then SIGKILL after 10 s. Its stderr is in the Output.
func Target(t testing.TB, cmd *exec.Cmd) (*launch.Process, *Output) {
	t.Helper()
	stderr := &Output{}
	cmd.Stderr = stderr
	p, err := launch.Start(cmd, 20*time.Second)
	if err != nil {
		t.Fatalf("target: %v; stderr: %s", err, stderr.String())
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.Exited():
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-p.Exited()
		}
	})
	return p, stderr
}

// Root is the checkout's root folder.
func Root(t testing.TB) string {
	t.Helper()
	r, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Locust returns the Locust that find finds, and fails the test when it is
// missing: integration tests fail, not skip, without Locust
// (scripts/setup.sh installs both versions).
// Each is asked once per test binary: asking runs Python (`locust
// --version`), a second of CPU each time.
func Locust(t testing.TB, find func() (locusts.Locust, error)) locusts.Locust {
	t.Helper()
	key := reflect.ValueOf(find).Pointer()
	found.mu.Lock()
	f, ok := found.m[key]
	if !ok {
		f.l, f.err = find()
		found.m[key] = f
	}
	found.mu.Unlock()
	if f.err != nil {
		t.Fatal(f.err)
	}
	return f.l
}

type finding struct {
	l   locusts.Locust
	err error
}

var found = struct {
	mu sync.Mutex
	m  map[uintptr]finding // by find's code
}{m: map[uintptr]finding{}}
