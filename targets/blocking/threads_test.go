package blocking

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPidsMax(t *testing.T) {
	root := t.TempDir()
	write := func(rel, v string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// v2: the lowest on the way up counts, "max" is no limit.
	write("a/b/c/pids.max", "max")
	write("a/b/pids.max", "300")
	write("a/pids.max", "4096")
	if n, ok := PidsMax(root, []byte("0::/a/b/c\n")); !ok || n != 300 {
		t.Errorf("v2: %d %v, want 300", n, ok)
	}
	// v1's pids controller has its own hierarchy.
	write("pids/docker/x/pids.max", "77")
	if n, ok := PidsMax(root, []byte("12:memory:/docker/x\n8:pids:/docker/x\n0::/a/b/c\n")); !ok || n != 77 {
		t.Errorf("v1: %d %v, want 77", n, ok)
	}
	if _, ok := PidsMax(root, []byte("0::/nowhere\n")); ok {
		t.Errorf("a cgroup without pids.max reports a limit")
	}
	if _, ok := PidsMax(root, []byte("garbage")); ok {
		t.Errorf("an unreadable cgroup file reports a limit")
	}
}

func TestSystemThreadLimit(t *testing.T) {
	n, where := SystemThreadLimit()
	if n <= spareThreads || where == "" {
		t.Errorf("%d from %q: no room for a single connection thread on this machine?", n, where)
	}
	// Each bounds the threads of the whole system, so of this process.
	for _, k := range []string{"threads-max", "pid_max"} {
		b, err := os.ReadFile("/proc/sys/kernel/" + k)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || n > v {
			t.Errorf("the limit %d (from %s) is above kernel.%s, %s", n, where, k, b)
		}
	}
}
