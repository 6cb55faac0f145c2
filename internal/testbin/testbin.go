// Package testbin builds the project's commands for tests that run them as
// real processes, once per test binary.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"serverlab/internal/repo"
)

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{}
)

// Build compiles the main package pkg (an import path such as
// "serverlab/targets/cmd/target") and returns the binary's path. Under
// `go test -race` the binary is built with the race detector too, so that
// races in servers and workers fail the tests that run them.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "serverlab-bin-")
		if err != nil {
			t.Fatalf("testbin: %v", err)
		}
		dir = d
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatalf("testbin: %v", err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testbin: go build %s: %v\n%s", pkg, err, strings.TrimSpace(string(b)))
	}
	built[pkg] = out
	return out
}

// Main runs a package's tests (call it from TestMain) and then removes
// the binaries Build made; it returns the exit code.
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	if dir != "" {
		os.RemoveAll(dir)
	}
	mu.Unlock()
	return code
}

// RaceEnabled says whether the tests were built with the race detector,
// whose instrumentation changes what a test of memory or stacks measures.
func RaceEnabled() bool { return raceEnabled }

// WithoutRace runs the test named name, of the package in the working
// directory (a test's own), in a build without the race detector, and
// fails t with its output when it fails or does not run. A test that
// counts allocations or measures stacks calls it under the race detector:
// its instrumentation deepens every frame, and its sync.Pool drops a
// quarter of what is put back, at random, so the same code allocates a
// different number of times from one measurement to the next.
func WithoutRace(t testing.TB, name string) {
	t.Helper()
	// -race=false wins over a GOFLAGS=-race that the child inherits, which
	// would make it call itself again.
	cmd := exec.Command("go", "test", "-race=false", "-count=1", "-v", "-run", "^"+name+"$", ".")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s built without the race detector: %v\n%s", name, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+name+" ") {
		t.Fatalf("%s built without the race detector did not run:\n%s", name, out)
	}
}
