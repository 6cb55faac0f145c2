package declared

import (
	"context"
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

// A user's goroutine keeps the stack its deepest request grew until a
// collection finds it waiting, and a worker of ten thousand users pays it
// ten thousand times: one frame too many on the way from the user's loop
// to the request's bytes doubles every stack, from 4 KiB to 8 KiB. The
// stacks of declared users making requests (to a target in another
// process, whose goroutines are not counted) must stay at 4 KiB a user.
func TestDeclaredUsersKeepSmallStacks(t *testing.T) {
	if testbin.RaceEnabled() {
		// The race detector deepens every frame: the stacks are measured
		// by this test built without it.
		testbin.WithoutRace(t, "TestDeclaredUsersKeepSmallStacks")
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
		deadline := time.Now().Add(30 * time.Second)
		for answered.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d requests answered in 30 s, want %d", answered.Load(), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The first request dials, deeper than any other: two collections
	// then shrink the waiting users' stacks, and with the collector off
	// the next requests show what a request grows them to.
	waitFor(users)
	runtime.GC()
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	waitFor(answered.Load() + 2*users)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	per := float64(after.StackInuse-before.StackInuse) / users
	t.Logf("%.0f bytes of stack a user", per)
	if per > 4096*1.25 {
		t.Errorf("each of %d users holds %.0f bytes of goroutine stack between its requests, want 4 KiB", users, per)
	}
}

// countRecorder counts answered requests.
type countRecorder struct{ n *atomic.Int64 }

func (c countRecorder) RecordSuccess(string, string, time.Duration, int64)  { c.n.Add(1) }
func (c countRecorder) RecordFailure(string, string, time.Duration, string) {}
