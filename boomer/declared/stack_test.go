package declared

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"serverlab/boomer"
	"serverlab/boomer/httpuser"
	"serverlab/internal/testbin"
)

// A goroutine keeps the stack its deepest request grew (4 KiB at least
// while a user's loop is on it), and a worker of ten thousand users that
// each parked one between requests paid it ten thousand times. Declared
// users waiting between requests (to a target in another process, whose
// goroutines are not counted) must hold no goroutine: the stacks in use
// stay under 2 KiB a user, the least one goroutine has; the few users in a
// request hold theirs.
func TestWaitingDeclaredUsersHoldNoStack(t *testing.T) {
	if testbin.RaceEnabled() {
		// The race detector deepens every frame: the stacks are measured
		// by this test built without it.
		testbin.WithoutRace(t, "TestWaitingDeclaredUsersHoldNoStack")
		return
	}
	bin := testbin.Build(t, "serverlab/targets/cmd/target")
	p, _ := testbin.Target(t, exec.Command(bin, "--model", "epoll", "--addr", "127.0.0.1:0",
		"--docroot", filepath.Join(testbin.Root(t), "targets", "www")))
	host := "http://" + p.Ready.Addr
	spec, err := Parse([]byte(`{"version": 1, "classes": [{"name": "Reader", "weight": 1, "wait": {"kind": "between", "min": 0.2, "max": 0.4},
		"tasks": [{"name": "page", "weight": 1, "requests": [{"method": "GET", "path": "/", "name": "/"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var answered atomic.Int64
	rec := countRecorder{&answered}
	classes, bad := spec.UserClasses(Options{HTTP: httpuser.Options{ConnectTimeout: 5 * time.Second, ResponseTimeout: 10 * time.Second},
		Recorder: func(*boomer.User) httpuser.Recorder { return rec }})
	if len(bad) > 0 || len(classes) != 1 {
		t.Fatalf("classes %v, unsupported %v", classes, bad)
	}
	const users = 500
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b := boomer.NewStandaloneBoomer(boomer.Options{ResolveHost: func(string, map[string]any) (string, error) { return host, nil }},
		users, users*4, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, classes...) }()
	defer func() {
		cancel()
		<-done
	}()
	waitFor := func(n int64) {
		t.Helper()
		testbin.Eventually(t, 30*time.Second, fmt.Sprintf("%d requests answered", n), func() (bool, string) {
			got := answered.Load()
			return got >= n, fmt.Sprintf("%d answered", got)
		})
	}
	// The first requests dial and the spawn overlaps them: two
	// collections then free the stacks of the goroutines gone, and with
	// the collector off the next requests show what users hold.
	waitFor(users)
	runtime.GC()
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	waitFor(answered.Load() + 2*users)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	per := float64(after.StackInuse-before.StackInuse) / users
	t.Logf("%.0f bytes of stack a user", per)
	if per >= 2048 {
		t.Errorf("each of %d users holds %.0f bytes of goroutine stack between its requests, want none (under 2 KiB)", users, per)
	}
}

// countRecorder counts answered requests.
type countRecorder struct{ n *atomic.Int64 }

func (c countRecorder) RecordSuccess(string, string, time.Duration, int64)  { c.n.Add(1) }
func (c countRecorder) RecordFailure(string, string, time.Duration, string) {}
