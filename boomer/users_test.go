package boomer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"serverlab/internal/testbin"
)

// idle is a task that blocks until its user is stopped.
func idle(u *User) { <-u.Ctx.Done() }

func newTestPool(t *testing.T, classes ...*UserClass) (*pool, *[]exception) {
	t.Helper()
	var mu sync.Mutex
	var excs []exception
	p, err := newPool(context.Background(), classes, newStatsHub(), nil, func(e exception) {
		mu.Lock()
		excs = append(excs, e)
		mu.Unlock()
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		waitRuns(p.stopAll(0), 10*time.Second)
		p.wg.Wait()
	})
	return p, &excs
}

func ids(p *pool, class string) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for _, r := range p.byClass[class] {
		out = append(out, r.u.ID)
	}
	return out
}

func TestReconcileMatchesAbsoluteCounts(t *testing.T) {
	a := &UserClass{Name: "A", Tasks: []Task{{Name: "idle", Fn: idle}}}
	b := &UserClass{Name: "B", Tasks: []Task{{Name: "idle", Fn: idle}}}
	p, _ := newTestPool(t, a, b)

	p.reconcile(map[string]int64{"A": 3, "B": 1}, sameHost("http://h"), 0)
	if got := p.counts(nil); got["A"] != 3 || got["B"] != 1 || p.total() != 4 {
		t.Fatalf("counts %v", got)
	}
	stopping := p.reconcile(map[string]int64{"A": 1, "B": 2, "Missing": 5}, sameHost("http://h"), 0)
	if got := p.counts(nil); got["A"] != 1 || got["B"] != 2 {
		t.Fatalf("counts %v", got)
	}
	if _, ok := p.counts(map[string]int64{"Missing": 5})["Missing"]; ok {
		t.Error("an unknown class is reported in user_classes_count")
	}
	if len(stopping) != 2 {
		t.Fatalf("%d users stopping, want 2", len(stopping))
	}
	if left := waitRuns(stopping, 10*time.Second); left != 0 {
		t.Fatalf("%d stopped users did not end", left)
	}
	// The newest users are stopped first; the oldest keeps running.
	if got := ids(p, "A"); !slices.Equal(got, []int{1}) {
		t.Errorf("A users left: %v, want [1]", got)
	}
	if got := p.unknown(map[string]int64{"Missing": 5, "Zero": 0, "A": 1}); !slices.Equal(got, []string{"Missing"}) {
		t.Errorf("unknown = %v", got)
	}
	e := p.unknownClassError("Missing")
	if !strings.Contains(e.Msg, `"Missing"`) || !strings.Contains(e.Msg, "A, B") {
		t.Errorf("unknown class message %q names neither the class nor the known ones", e.Msg)
	}
	// Classes absent from the target are left alone.
	p.reconcile(map[string]int64{"B": 0}, sameHost(""), 0)
	if got := p.counts(nil); got["A"] != 1 || got["B"] != 0 {
		t.Errorf("counts %v", got)
	}
	for _, r := range p.byClass["A"] {
		if r.u.Host != "http://h" || r.u.Class != "A" {
			t.Errorf("user %+v", r.u)
		}
	}
}

func TestPanickingTaskIsReportedAndUserGoesOn(t *testing.T) {
	var calls atomic.Int64
	enough := make(chan struct{})
	c := &UserClass{Name: "P", Tasks: []Task{{Name: "flaky", Fn: func(u *User) {
		n := calls.Add(1)
		if n == 1 {
			panic("boom")
		}
		if n == 3 {
			close(enough)
		}
		if n >= 3 {
			<-u.Ctx.Done()
		}
	}}}}
	p, excs := newTestPool(t, c)
	p.reconcile(map[string]int64{"P": 1}, sameHost(""), 0)
	select {
	case <-enough:
	case <-time.After(10 * time.Second):
		t.Fatal("the user did not go on after its task panicked")
	}
	waitRuns(p.stopAll(0), 10*time.Second)
	p.wg.Wait()
	if len(*excs) != 1 {
		t.Fatalf("%d exceptions, want 1: %v", len(*excs), *excs)
	}
	e := (*excs)[0]
	if !strings.Contains(e.Msg, "panic: boom") || !strings.Contains(e.Msg, "flaky") {
		t.Errorf("exception message %q", e.Msg)
	}
	if !strings.Contains(e.Traceback, "users_test.go") {
		t.Errorf("traceback does not show the panicking task:\n%s", e.Traceback)
	}
	if strings.Contains(e.Traceback, "goroutine ") || strings.Contains(e.Traceback, "(0x") {
		t.Errorf("traceback keeps per-goroutine details, so equal panics would not group:\n%s", e.Traceback)
	}
}

func TestOnStartErrorStopsUser(t *testing.T) {
	var ran, stopped atomic.Bool
	c := &UserClass{
		Name:    "S",
		Tasks:   []Task{{Name: "t", Fn: func(*User) { ran.Store(true) }}},
		OnStart: func(*User) error { return errors.New("no login") },
		OnStop:  func(*User) { stopped.Store(true) },
	}
	p, excs := newTestPool(t, c)
	runs := p.reconcile(map[string]int64{"S": 1}, sameHost(""), 0)
	if runs != nil {
		t.Fatal("nothing should be stopping")
	}
	p.mu.Lock()
	r := p.byClass["S"][0]
	p.mu.Unlock()
	if waitRuns([]*userRun{r}, 10*time.Second) != 0 {
		t.Fatal("user whose OnStart failed did not end")
	}
	if ran.Load() || stopped.Load() {
		t.Errorf("task ran: %v, OnStop ran: %v; want neither", ran.Load(), stopped.Load())
	}
	if len(*excs) != 1 || !strings.Contains((*excs)[0].Msg, "no login") {
		t.Errorf("exceptions %v", *excs)
	}
	if n := p.total(); n != 0 {
		t.Errorf("%d users counted after the only one ended", n)
	}
}

func TestOnStopRunsAndGraceLetsTaskFinish(t *testing.T) {
	// Buffered: the user may reach its task before the test waits for it.
	inTask := make(chan struct{}, 1)
	release := make(chan struct{})
	var finished, stopped atomic.Bool
	c := &UserClass{
		Name: "G",
		Tasks: []Task{{Name: "slow", Fn: func(u *User) {
			select {
			case inTask <- struct{}{}:
			default:
			}
			select {
			case <-release:
				finished.Store(u.Ctx.Err() == nil)
			case <-u.Ctx.Done():
			}
		}}},
		OnStop: func(*User) { stopped.Store(true) },
	}
	p, _ := newTestPool(t, c)
	p.reconcile(map[string]int64{"G": 1}, sameHost(""), 0)
	select {
	case <-inTask:
	case <-time.After(10 * time.Second):
		t.Fatal("the user never started its task")
	}
	runs := p.stopAll(time.Hour) // graceful: the task may complete
	close(release)
	if waitRuns(runs, 10*time.Second) != 0 {
		t.Fatal("user did not end after its task completed")
	}
	if !finished.Load() || !stopped.Load() {
		t.Errorf("task finished with a live context: %v, OnStop ran: %v", finished.Load(), stopped.Load())
	}
}

func TestClassValidation(t *testing.T) {
	task := []Task{{Name: "t", Fn: idle}}
	for _, tc := range []struct {
		classes []*UserClass
		want    string
	}{
		{nil, "no user classes"},
		{[]*UserClass{nil}, "nil user class"},
		{[]*UserClass{{Tasks: task}}, "no name"},
		{[]*UserClass{{Name: "X"}}, "no tasks"},
		{[]*UserClass{{Name: "X", Tasks: []Task{{Name: "t"}}}}, "no function"},
		{[]*UserClass{{Name: "X", Tasks: task}, {Name: "X", Tasks: task}}, "twice"},
		{[]*UserClass{{Name: "X", Weight: -1, Tasks: task}}, "negative"},
	} {
		_, err := newPool(context.Background(), tc.classes, newStatsHub(), nil, func(exception) {}, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("newPool(%v) error %v, want one containing %q", tc.classes, err, tc.want)
		}
	}
}

func TestTaskPickerFollowsWeights(t *testing.T) {
	tasks := []Task{{Name: "a", Weight: 1}, {Name: "b", Weight: 3}, {Name: "c"}}
	pick := taskPicker(tasks)
	n := map[string]int{}
	for range 50000 {
		n[pick().Name]++
	}
	// Expected shares 1/5, 3/5, 1/5; the bounds are many sigmas wide.
	if n["a"] < 9000 || n["a"] > 11000 || n["b"] < 29000 || n["b"] > 31000 || n["c"] < 9000 || n["c"] > 11000 {
		t.Errorf("picks %v, want about 10000/30000/10000", n)
	}
}

func TestWaitTimes(t *testing.T) {
	if d := Constant(time.Second)(nil, time.Now()); d != time.Second {
		t.Errorf("Constant = %v", d)
	}
	for range 1000 {
		if d := Between(2*time.Millisecond, time.Millisecond)(nil, time.Now()); d < time.Millisecond || d > 2*time.Millisecond {
			t.Fatalf("Between = %v", d)
		}
	}
	if d := ConstantPacing(time.Second)(nil, time.Now().Add(-2*time.Second)); d != 0 {
		t.Errorf("ConstantPacing after a long task = %v, want 0", d)
	}
	if d := ConstantPacing(time.Hour)(nil, time.Now()); d <= 59*time.Minute {
		t.Errorf("ConstantPacing right after start = %v", d)
	}
	if d := ConstantThroughput(4)(nil, time.Now()); d <= 200*time.Millisecond || d > 250*time.Millisecond {
		t.Errorf("ConstantThroughput(4) = %v", d)
	}
}

// TestNoLeakAcrossCycles starts and stops users many times and checks that
// every goroutine they used is gone.
func TestNoLeakAcrossCycles(t *testing.T) {
	c := &UserClass{Name: "L", Tasks: []Task{{Name: "idle", Fn: idle}}, Wait: Constant(time.Millisecond)}
	p, _ := newTestPool(t, c)
	before := runtime.NumGoroutine()
	for i := range 30 {
		p.reconcile(map[string]int64{"L": int64(10 + i%7)}, sameHost(""), 0)
		p.reconcile(map[string]int64{"L": 3}, sameHost(""), time.Duration(i%2)*time.Hour)
		if waitRuns(p.stopAll(0), 10*time.Second) != 0 {
			t.Fatal("users did not stop")
		}
	}
	p.wg.Wait()
	waitGoroutines(t, before)
}

// waitGoroutines fails unless the goroutine count comes back to at most
// want (goroutines that were told to end need a moment to do so).
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", n, want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sameHost gives every class host.
func sameHost(host string) func(string) string { return func(string) string { return host } }

// A user waiting between tasks holds no goroutine (ten thousand waiting
// users would hold ten thousand stacks), and still ends at once when
// stopped, running its OnStop, without waiting out its wait.
func TestWaitingUsersHoldNoGoroutine(t *testing.T) {
	const users = 200
	var tasks, stops atomic.Int64
	c := &UserClass{
		Name:   "W",
		Tasks:  []Task{{Name: "quick", Fn: func(*User) { tasks.Add(1) }}},
		Wait:   Constant(time.Hour),
		OnStop: func(*User) { stops.Add(1) },
	}
	p, _ := newTestPool(t, c)
	before := runtime.NumGoroutine()
	p.reconcile(map[string]int64{"W": users}, sameHost(""), 0)
	testbin.Eventually(t, 10*time.Second, "every user's first task", func() (bool, string) {
		n := tasks.Load()
		return n >= users, fmt.Sprintf("%d of %d users ran it", n, users)
	})
	waitGoroutines(t, before)
	if p.total() != users {
		t.Fatalf("%d users counted while they wait, want %d", p.total(), users)
	}
	if left := waitRuns(p.stopAll(time.Hour), 10*time.Second); left != 0 {
		t.Fatalf("%d waiting users did not end when stopped", left)
	}
	if stops.Load() != users || p.total() != 0 {
		t.Errorf("OnStop ran %d times for %d users; %d still counted", stops.Load(), users, p.total())
	}
}

// Stops that race with short waits end every user exactly once: the
// user's timer firing and its loop ending both try to wake it.
func TestStopsRacingShortWaitsEndEachUserOnce(t *testing.T) {
	var mu sync.Mutex
	stops := map[int]int{}
	c := &UserClass{
		Name:   "R",
		Tasks:  []Task{{Name: "quick", Fn: func(*User) {}}},
		Wait:   Between(50*time.Microsecond, 200*time.Microsecond),
		OnStop: func(u *User) { mu.Lock(); stops[u.ID]++; mu.Unlock() },
	}
	p, _ := newTestPool(t, c)
	before := runtime.NumGoroutine()
	started := 0
	for i := range 40 {
		p.reconcile(map[string]int64{"R": 20}, sameHost(""), 0)
		started += 20
		time.Sleep(time.Duration(i%4) * time.Millisecond)
		if waitRuns(p.stopAll(time.Duration(i%2)*time.Hour), 10*time.Second) != 0 {
			t.Fatal("users did not stop")
		}
	}
	p.wg.Wait()
	waitGoroutines(t, before)
	mu.Lock()
	defer mu.Unlock()
	if len(stops) != started {
		t.Errorf("OnStop ran for %d of %d users", len(stops), started)
	}
	for id, n := range stops {
		if n != 1 {
			t.Errorf("user %d's OnStop ran %d times", id, n)
		}
	}
}

// A user stopped while it waits keeps its context for its OnStop, whose
// requests then go out, as a Locust user killed in its wait runs on_stop;
// one stopped in its task is interrupted there, and its OnStop sees the
// context ended.
func TestStopKeepsContextForOnStopOfAWaitingUser(t *testing.T) {
	for _, inTask := range []bool{false, true} {
		t.Run(fmt.Sprint("in task: ", inTask), func(t *testing.T) {
			started := make(chan struct{}, 1)
			var live atomic.Bool
			var stops atomic.Int64
			c := &UserClass{
				Name: "S",
				Tasks: []Task{{Name: "t", Fn: func(u *User) {
					started <- struct{}{}
					if inTask {
						<-u.Ctx.Done()
					}
				}}},
				Wait:   Constant(time.Hour),
				OnStop: func(u *User) { live.Store(u.Ctx.Err() == nil); stops.Add(1) },
			}
			p, _ := newTestPool(t, c)
			before := runtime.NumGoroutine()
			p.reconcile(map[string]int64{"S": 1}, sameHost(""), 0)
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("the user never started its task")
			}
			if !inTask {
				waitGoroutines(t, before) // its goroutine gone: it waits
			}
			runs := p.stopAll(0)
			if waitRuns(runs, 10*time.Second) != 0 {
				t.Fatal("the user did not end")
			}
			if stops.Load() != 1 || live.Load() == inTask {
				t.Errorf("OnStop ran %d times, with a live context: %v", stops.Load(), live.Load())
			}
			if runs[0].u.Ctx.Err() == nil {
				t.Error("the user's context outlives it")
			}
		})
	}
}
