package boomer

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"serverlab/internal/testbin"
)

func TestStandaloneRunAndSummary(t *testing.T) {
	before := runtime.NumGoroutine()
	var aUsers, bUsers atomic.Int64
	a := &UserClass{Name: "A", Weight: 3, OnStart: func(*User) error { aUsers.Add(1); return nil },
		Tasks: []Task{{Name: "get", Fn: func(u *User) {
			u.RecordSuccess("GET", "/a", 2*time.Millisecond, 10)
		}}}, Wait: Constant(time.Millisecond)}
	b := &UserClass{Name: "B", Weight: 1, OnStart: func(*User) error { bUsers.Add(1); return nil },
		Tasks: []Task{{Name: "fail", Fn: func(u *User) {
			u.RecordFailure("POST", "/b", 150*time.Millisecond, "OSError(24, 'Too many open files')")
		}}}, Wait: Constant(time.Millisecond)}
	bm := NewStandaloneBoomer(Options{}, 8, 1e6, 300*time.Millisecond)
	if err := bm.Run(context.Background(), a, b); err != nil {
		t.Fatal(err)
	}
	if aUsers.Load() != 6 || bUsers.Load() != 2 {
		t.Errorf("started %d A and %d B users, want 6 and 2 (weights 3:1)", aUsers.Load(), bUsers.Load())
	}
	s := bm.Summary()
	for _, want := range []string{"Type     Name", "GET      /a", "POST     /b", "Aggregated",
		"Response time percentiles (approximated)", "Error report", "POST /b: OSError(24, 'Too many open files')", "(100.00%)"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	waitGoroutines(t, before)
}

func TestStandaloneQuitAndBadArguments(t *testing.T) {
	c := &UserClass{Name: "Q", Tasks: []Task{{Name: "idle", Fn: idle}}}
	bm := NewStandaloneBoomer(Options{}, 2, 10, 0)
	done := make(chan error, 1)
	go func() { done <- bm.Run(context.Background(), c) }()
	bm.Quit()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Quit did not end a standalone run")
	}
	if err := NewStandaloneBoomer(Options{}, 1, 0, time.Second).Run(context.Background(), c); err == nil {
		t.Error("a zero spawn rate was accepted")
	}
	if err := NewStandaloneBoomer(Options{}, -1, 1, time.Second).Run(context.Background(), c); err == nil {
		t.Error("a negative user count was accepted")
	}
}

func TestSpawnOrderInterleavesByWeight(t *testing.T) {
	p, err := newPool(context.Background(), []*UserClass{
		{Name: "A", Weight: 2, Tasks: []Task{{Fn: idle}}},
		{Name: "B", Weight: 1, Tasks: []Task{{Fn: idle}}},
	}, newStatsHub(), nil, func(exception) {}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(spawnOrder(p, 6), ""); got != "ABAABA" {
		t.Errorf("spawn order %s, want ABAABA", got)
	}
}

// Classes with a fixed_count get their users first, the weighted
// classes the rest; with fewer users than the fixed counts, only fixed
// ones start, and with only fixed classes, no more than their counts.
func TestSpawnOrderStartsFixedCountsFirst(t *testing.T) {
	p, err := newPool(context.Background(), []*UserClass{
		{Name: "A", Weight: 2, Tasks: []Task{{Fn: idle}}},
		{Name: "B", Weight: 1, Tasks: []Task{{Fn: idle}}},
		{Name: "F", FixedCount: 2, Tasks: []Task{{Fn: idle}}},
		{Name: "G", FixedCount: 1, Weight: 5, Tasks: []Task{{Fn: idle}}},
	}, newStatsHub(), nil, func(exception) {}, false)
	if err != nil {
		t.Fatal(err)
	}
	for users, want := range map[int]string{9: "FGFABAABA", 2: "FG", 3: "FGF"} {
		if got := strings.Join(spawnOrder(p, users), ""); got != want {
			t.Errorf("%d users: spawn order %s, want %s", users, got, want)
		}
	}
	fixedOnly, err := newPool(context.Background(), []*UserClass{{Name: "F", FixedCount: 2, Tasks: []Task{{Fn: idle}}}},
		newStatsHub(), nil, func(exception) {}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(spawnOrder(fixedOnly, 5), ""); got != "FF" {
		t.Errorf("only a fixed class of 2, 5 users: spawn order %s, want FF", got)
	}
}

func TestLimiterSpacesSlots(t *testing.T) {
	if newLimiter(0) != nil {
		t.Error("0 rps must mean no limiter")
	}
	l := newLimiter(1)
	var last time.Duration
	for i := range 10 {
		w := l.reserve()
		if i > 0 && w <= last {
			t.Fatalf("slot %d waits %v, not more than the previous %v", i, w, last)
		}
		last = w
	}
	// Ten slots at 1/s: the last one is about 9 s away.
	if last < 8*time.Second {
		t.Errorf("tenth slot after %v, want about 9s", last)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.wait(ctx); err == nil {
		t.Error("wait ignored a cancelled context")
	}
}

// A task that ignores User.Ctx is named in the log, and the run still
// ends: it is waited for a bounded time, not forever.
func TestStandaloneEndsDespiteATaskIgnoringItsContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var logs testbin.Output
	b := NewStandaloneBoomer(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, 1, 100, 200*time.Millisecond)
	stubborn := &UserClass{Name: "S", Tasks: []Task{{Name: "t", Fn: func(*User) { <-release }}}}
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background(), stubborn) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run waits forever for a task that ignores its context")
	}
	if !strings.Contains(logs.String(), "users still running after stop: a task or on_stop ignores User.Ctx") {
		t.Errorf("nothing logged about the stubborn task:\n%s", logs.String())
	}
}
