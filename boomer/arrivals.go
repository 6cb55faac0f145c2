package boomer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// An open model: while an arrival rate is set, the users of a pool stop
// pacing themselves (their class's wait is not used) and become a pool of
// concurrency. Requests fall due at the rate, evenly spaced from the
// moment the rate was set, whatever the latency; each due request goes to
// the user that has waited longest for work. When every user is busy, the
// due requests queue, and the next user to come free takes the oldest at
// once: the pool ran dry, the target could not keep up. A request's
// recorded time runs from when it was due, not from when a user could
// send it, so a slow server is not sent fewer requests and its queue
// shows in the latency (no coordinated omission).
//
// Due requests are consecutive slots k = 0, 1, 2, ..., slot k due at
// start + k/rate. Slots below head are taken, slots from head to next are
// due and queued, slots from next on are not due yet; so a queue of any
// length costs two counters.

// ArrivalStats are an arrival schedule's counts since its rate was set.
type ArrivalStats struct {
	Rate float64 // requests a second; 0: no schedule, the users pace themselves
	// Due is how many requests have fallen due, Started how many a user
	// took; Due - Started are queued now.
	Due, Started int64
	// Late counts the requests that fell due while no user was free: they
	// waited in the queue.
	Late int64
	// MaxLag is the longest a request waited in the queue for a free
	// user, since the previous ArrivalStats.
	MaxLag time.Duration
	// Engaged is how many users took a request.
	Engaged int
}

// Backlog is how many due requests wait for a free user.
func (s ArrivalStats) Backlog() int64 { return s.Due - s.Started }

// errScheduleEnded tells a waiting user that its schedule was replaced.
var errScheduleEnded = errors.New("arrival schedule ended")

// waiter is one user's place in the idle line; its channel gets the due
// time of the slot it is given (zero: the schedule ended).
type waiter struct {
	c chan time.Time
}

func newWaiter() *waiter { return &waiter{c: make(chan time.Time, 1)} }

type arrivals struct {
	rate     float64
	start    time.Time
	interval float64 // nanoseconds between slots
	now      func() time.Time

	mu      sync.Mutex
	next    int64 // slots before next are due
	head    int64 // slots before head are taken
	late    int64
	maxLag  time.Duration
	idle    []*waiter // free users, longest waiting first
	engaged map[*waiter]struct{}
	ended   bool
	wake    chan struct{} // the schedule ended
	kick    chan struct{} // a user joined an empty idle line
}

// newArrivals starts a schedule at rate requests a second; at 0 nothing
// falls due and the users wait.
func newArrivals(rate float64, now func() time.Time) *arrivals {
	return &arrivals{
		rate: rate, start: now(), interval: float64(time.Second) / rate, now: now,
		engaged: map[*waiter]struct{}{}, wake: make(chan struct{}, 1), kick: make(chan struct{}, 1),
	}
}

// due is when slot k falls due (never, at rate 0: the zero time).
func (a *arrivals) due(k int64) time.Time {
	if a.rate == 0 {
		return time.Time{}
	}
	return a.start.Add(time.Duration(float64(k) * a.interval))
}

// dueBy is how many slots have fallen due by t, and dueBefore how many
// before t; float rounding is corrected against due itself, so the three
// always agree.
func (a *arrivals) dueBy(t time.Time) int64 {
	if a.rate == 0 {
		return 0
	}
	n := a.guess(t)
	for !a.due(n).After(t) {
		n++
	}
	for n > 0 && a.due(n-1).After(t) {
		n--
	}
	return n
}

func (a *arrivals) dueBefore(t time.Time) int64 {
	if a.rate == 0 {
		return 0
	}
	n := a.guess(t)
	for a.due(n).Before(t) {
		n++
	}
	for n > 0 && !a.due(n-1).Before(t) {
		n--
	}
	return n
}

func (a *arrivals) guess(t time.Time) int64 {
	d := t.Sub(a.start)
	if d < 0 {
		return 0
	}
	return int64(float64(d) / a.interval)
}

// advance makes the slots due by now due: each goes to the longest idle
// user, and when none is idle the rest queue (and are late). Every change
// to the idle line advances first, so a slot is late exactly when no user
// was idle at its due time, however late the dispatcher wakes. It returns
// when the next slot falls due, and whether a user waits for it.
func (a *arrivals) advance(now time.Time) (next time.Time, waiting bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.catchUp(a.dueBy(now))
	return a.due(a.next), len(a.idle) > 0 && a.rate > 0
}

// catchUp makes the slots before upTo due.
func (a *arrivals) catchUp(upTo int64) {
	if a.ended {
		return
	}
	for a.next < upTo && len(a.idle) > 0 {
		w := a.idle[0]
		a.idle = a.idle[1:]
		w.c <- a.due(a.next)
		a.engaged[w] = struct{}{}
		a.next++
		a.head++
	}
	if a.next < upTo {
		a.late += upTo - a.next
		a.next = upTo
	}
}

// arrive is a free user w asking for work: the oldest queued slot's due
// time at once, or ok false and w joins the idle line.
func (a *arrivals) arrive(w *waiter) (due time.Time, ok bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return time.Time{}, false, errScheduleEnded
	}
	// Slots due before now found nobody free; one due right now finds w.
	now := a.now()
	a.catchUp(a.dueBefore(now))
	if a.head < a.next {
		due = a.due(a.head)
		a.head++
		a.engaged[w] = struct{}{}
		if lag := now.Sub(due); lag > a.maxLag {
			a.maxLag = lag
		}
		return due, true, nil
	}
	a.idle = append(a.idle, w)
	a.catchUp(a.dueBy(now))
	if due, ok := handed(w); ok {
		return due, true, nil
	}
	if len(a.idle) == 1 {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
	return time.Time{}, false, nil
}

// handed is the due time of a slot given to w, if one was.
func handed(w *waiter) (time.Time, bool) {
	select {
	case d := <-w.c:
		return d, true
	default:
		return time.Time{}, false
	}
}

// leave takes w out of the idle line (its user stops). A slot handed to
// it at that moment is not sent.
func (a *arrivals) leave(w *waiter) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.catchUp(a.dueBefore(a.now()))
	a.idle = slices.DeleteFunc(a.idle, func(x *waiter) bool { return x == w })
	select {
	case <-w.c:
	default:
	}
}

// take waits for w's next slot; it returns the slot's due time.
func (a *arrivals) take(ctx context.Context, w *waiter) (time.Time, error) {
	due, ok, err := a.arrive(w)
	if err != nil || ok {
		return due, err
	}
	select {
	case due := <-w.c:
		if due.IsZero() {
			return due, errScheduleEnded
		}
		return due, nil
	case <-ctx.Done():
		a.leave(w)
		return time.Time{}, ctx.Err()
	}
}

// end stops the schedule: the idle users are told, and go back to
// whatever schedule is current.
func (a *arrivals) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return
	}
	a.ended = true
	for _, w := range a.idle {
		select {
		case w.c <- time.Time{}:
		default:
		}
	}
	a.idle = nil
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// stats reads the counts; MaxLag restarts.
func (a *arrivals) stats() ArrivalStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := ArrivalStats{Rate: a.rate, Due: a.next, Started: a.head, Late: a.late, MaxLag: a.maxLag, Engaged: len(a.engaged)}
	a.maxLag = 0
	return s
}

// dispatch hands due slots to idle users as time passes, until the
// schedule ends. While no user is idle it sleeps: a user coming free
// advances the schedule itself, and kicks it.
func (a *arrivals) dispatch() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		next, waiting := a.advance(a.now())
		var tick <-chan time.Time
		if waiting {
			t.Reset(max(next.Sub(a.now()), 0))
			tick = t.C
		}
		select {
		case <-a.wake:
			return
		case <-a.kick:
		case <-tick:
		}
		t.Stop()
	}
}

// openModel holds a Boomer's current arrival schedule, if any.
type openModel struct {
	cur atomic.Pointer[arrivals]
	mu  sync.Mutex // serializes replacing the schedule
}

// set starts a schedule at rate (0: nothing due, the users wait), or with
// open false ends the open model.
func (o *openModel) set(rate float64, open bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var a *arrivals
	if open {
		a = newArrivals(max(rate, 0), time.Now)
		go a.dispatch()
	}
	if old := o.cur.Swap(a); old != nil {
		old.end()
	}
}

// SetArrivalRate puts the users in an open model: perSecond requests (task
// runs) fall due each second, evenly spaced from now, and go to whichever
// user is free, whatever the latency; a request's time is recorded from
// when it fell due. At 0 nothing falls due: the users wait for a rate.
// Each call starts a new schedule (requests still queued under the
// previous one are not sent; ArrivalStats counted them). The open model
// lasts until EndArrivals, or the master's stop.
func (b *Boomer) SetArrivalRate(perSecond float64) {
	b.open.set(perSecond, true)
}

// EndArrivals ends the open model: each user paces itself by its class's
// wait again.
func (b *Boomer) EndArrivals() {
	b.open.set(0, false)
}

// ArrivalStats returns the current schedule's counts; Rate 0 when the
// users pace themselves or wait for a rate.
func (b *Boomer) ArrivalStats() ArrivalStats {
	if a := b.open.cur.Load(); a != nil {
		return a.stats()
	}
	return ArrivalStats{}
}

// fromDue is a request's time as an open model records it: from when it
// fell due to now, or as measured if that is longer.
func fromDue(due, now time.Time, measured time.Duration) time.Duration {
	if due.IsZero() {
		return measured
	}
	return max(now.Sub(due), measured)
}

// sinceDue is the time to record for the request ending now: from when
// the user's task fell due, for the task's first request (the ones after
// it follow on the same connection, as in any user), else as measured.
func (u *User) sinceDue(measured time.Duration) time.Duration {
	if u.due.IsZero() {
		return measured
	}
	d := fromDue(u.due, time.Now(), measured)
	u.due = time.Time{}
	return d
}

// openTurn runs one task on the open model's schedule, if one is set: it
// waits for the user's next due request and runs a task for it. It
// reports whether a schedule was set, and whether the user must stop.
func (p *pool) openTurn(r *userRun, pick func() *Task) (scheduled, stop bool) {
	if p.open == nil {
		return false, false
	}
	a := p.open.cur.Load()
	if a == nil {
		return false, false
	}
	if r.waiter == nil {
		r.waiter = newWaiter()
	}
	due, err := a.take(r.loop, r.waiter)
	switch {
	case errors.Is(err, errScheduleEnded):
		return true, false // the next schedule, or none, from the top
	case err != nil:
		return true, true
	}
	r.u.due = due
	ran := p.task(r, pick())
	r.u.due = time.Time{}
	return true, !ran
}
