package boomer

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a hand-moved clock for the schedule.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) set(d time.Duration) { c.t = t0.Add(d) }
func ms(n int) time.Duration         { return time.Duration(n) * time.Millisecond }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Requests fall due every 1/rate from the rate's start, each to the user
// idle longest; one falling due while no user is free queues, is late,
// and goes to the next user that comes free, its wait counted.
func TestArrivalsDueTimesAndQueue(t *testing.T) {
	c := &clock{t: t0}
	a := newArrivals(10, c.now) // a request every 100 ms
	w1, w2 := newWaiter(), newWaiter()
	// w1 free at the start: slot 0, due now, is its own, on time.
	if due, ok, err := a.arrive(w1); !ok || err != nil || !due.Equal(t0) {
		t.Fatalf("first user: %v %v %v, want slot 0 due at the start", due, ok, err)
	}
	if _, ok, err := a.arrive(w2); ok || err != nil {
		t.Fatalf("second user: ok %v, err %v; want it idle until slot 1", ok, err)
	}
	next, waiting := a.advance(c.now())
	if !next.Equal(t0.Add(ms(100))) || !waiting {
		t.Fatalf("next due %v (waiting %v), want %v", next, waiting, t0.Add(ms(100)))
	}
	c.set(ms(250)) // slots 1 and 2 fall due; w2 is the only one idle
	a.advance(c.now())
	if d, ok := handed(w2); !ok || !d.Equal(t0.Add(ms(100))) {
		t.Fatalf("slot 1: %v %v", d, ok)
	}
	s := a.stats()
	if s.Due != 3 || s.Started != 2 || s.Late != 1 || s.Backlog() != 1 {
		t.Fatalf("after slot 2 found no free user: %+v", s)
	}
	c.set(ms(260)) // w1 comes free: slot 2 at once, 60 ms after it fell due
	due, ok, err := a.arrive(w1)
	if !ok || err != nil || !due.Equal(t0.Add(ms(200))) {
		t.Fatalf("w1 took %v %v %v, want the queued slot due at +200ms", due, ok, err)
	}
	s = a.stats()
	if s.Due != 3 || s.Started != 3 || s.Late != 1 || s.Backlog() != 0 || s.MaxLag != ms(60) || s.Engaged != 2 || s.Rate != 10 {
		t.Fatalf("stats %+v", s)
	}
	if a.stats().MaxLag != 0 {
		t.Errorf("MaxLag did not restart after being read")
	}
}

// With every user busy the queue grows at the rate, each request late;
// however late the dispatcher wakes, the count is the same, and the users
// coming free take the oldest first.
func TestArrivalsPoolDry(t *testing.T) {
	c := &clock{t: t0}
	a := newArrivals(1000, c.now)
	c.set(time.Second) // nobody free for a whole second: 1000 slots (0 .. 999 ms) found nobody
	w := newWaiter()
	due, ok, _ := a.arrive(w)
	if !ok || !due.Equal(t0) {
		t.Fatalf("first free user got %v %v, want the oldest, due at start", due, ok)
	}
	s := a.stats()
	if s.Due != 1000 || s.Late != 1000 || s.Started != 1 || s.Backlog() != 999 || s.MaxLag != time.Second {
		t.Fatalf("stats %+v", s)
	}
	// The same user back: the next oldest, still late, and no new late
	// count until time passes.
	due, ok, _ = a.arrive(w)
	if !ok || !due.Equal(t0.Add(ms(1))) {
		t.Fatalf("second: %v %v", due, ok)
	}
	if s := a.stats(); s.Late != 1000 || s.Started != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// A user idle at the due time is on time even when the dispatcher wakes
// after it; a schedule that ends sends its idle users back.
func TestArrivalsOnTimeAndEnd(t *testing.T) {
	c := &clock{t: t0}
	a := newArrivals(100, c.now)
	w := newWaiter()
	if _, ok, _ := a.arrive(w); !ok {
		t.Fatal("slot 0 not taken by the user free at the start")
	}
	a.arrive(w)   // idle for slot 1, due at 10 ms
	c.set(ms(15)) // the dispatcher wakes 5 ms late
	a.advance(c.now())
	if d, ok := handed(w); !ok || !d.Equal(t0.Add(ms(10))) {
		t.Fatalf("slot 1: %v %v", d, ok)
	}
	if s := a.stats(); s.Late != 0 || s.Due != 2 || s.Started != 2 {
		t.Fatalf("a slot with a user idle at its due time counted late: %+v", s)
	}
	a.arrive(w)
	a.end()
	if d, ok := handed(w); !ok || !d.IsZero() {
		t.Fatalf("an ended schedule did not send its idle user back: %v %v", d, ok)
	}
	if _, _, err := a.arrive(w); !errors.Is(err, errScheduleEnded) {
		t.Fatalf("arrive after end: %v", err)
	}
	if _, err := a.take(context.Background(), newWaiter()); !errors.Is(err, errScheduleEnded) {
		t.Fatalf("take after end: %v", err)
	}
}

// At rate 0 nothing falls due: the users wait for a rate.
func TestArrivalsRateZeroHolds(t *testing.T) {
	c := &clock{t: t0}
	a := newArrivals(0, c.now)
	w := newWaiter()
	if _, ok, err := a.arrive(w); ok || err != nil {
		t.Fatalf("arrive: ok %v, err %v", ok, err)
	}
	c.set(time.Hour)
	if _, waiting := a.advance(c.now()); waiting {
		t.Errorf("the dispatcher would wait for a due time that never comes")
	}
	if _, ok := handed(w); ok {
		t.Errorf("a request fell due at rate 0")
	}
	if s := a.stats(); s.Due != 0 || s.Late != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A request's time runs from when it fell due: the first request of the
// task that took the slot; the next ones on its connection as measured.
func TestLatencyFromDue(t *testing.T) {
	if got := fromDue(t0, t0.Add(ms(300)), ms(5)); got != ms(300) {
		t.Errorf("fromDue: %v, want 300ms", got)
	}
	if got := fromDue(t0, t0.Add(ms(3)), ms(5)); got != ms(5) {
		t.Errorf("fromDue below the measured time: %v, want 5ms", got)
	}
	if got := fromDue(time.Time{}, t0, ms(5)); got != ms(5) {
		t.Errorf("fromDue without a due time: %v", got)
	}
	u := &User{due: time.Now().Add(-time.Hour)}
	if got := u.sinceDue(ms(2)); got < time.Hour {
		t.Errorf("first request: %v, want at least an hour", got)
	}
	if got := u.sinceDue(ms(2)); got != ms(2) {
		t.Errorf("second request: %v, want as measured", got)
	}
}

// Wired into a pool: with a rate set, users ignore their class's wait and
// take the due requests in turn, every user of the pool engaged; with the
// rate gone they pace themselves again.
func TestPoolFollowsArrivalRate(t *testing.T) {
	var runs atomic.Int64
	c := &UserClass{Name: "A", Wait: Constant(time.Hour), Tasks: []Task{{Name: "t", Fn: func(u *User) {
		runs.Add(1)
		u.RecordSuccess("GET", "/", 0, 0)
	}}}}
	p, _ := newTestPool(t, c)
	var open openModel
	p.open = &open
	open.set(500, true)
	defer open.set(0, false)
	p.reconcile(map[string]int64{"A": 3}, sameHost("http://h"), 0)
	deadline := time.Now().Add(20 * time.Second)
	for runs.Load() < 30 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s := open.cur.Load().stats()
	if runs.Load() < 30 || s.Started < 30 || s.Engaged != 3 {
		t.Fatalf("%d task runs, stats %+v: want 30 or more, spread over the 3 users", runs.Load(), s)
	}
	open.set(0, false)
	time.Sleep(50 * time.Millisecond)
	before := runs.Load()
	time.Sleep(200 * time.Millisecond)
	if after := runs.Load(); after != before {
		t.Errorf("without a rate the users ran %d more tasks despite their hour's wait", after-before)
	}
}
