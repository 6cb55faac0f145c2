package boomer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// exception is what Locust's workers send as an "exception" message.
type exception struct {
	Msg       string
	Traceback string
}

// userRun is one running user.
type userRun struct {
	u *User
	// cancel ends u.Ctx, aborting the task in progress; finish only ends
	// the task loop, letting the current task complete (Locust's
	// stop_timeout grace).
	cancel, finish context.CancelFunc
	loop           context.Context
	done           chan struct{}
	waiter         *waiter // its place in an open model's idle line
	pick           func() *Task
	wake           *time.Timer // resumes the user after its wait
	inTask         atomic.Bool // between its loop's last check and the task's end
}

// end stops the run: after the current task, or right away when grace is 0;
// if a task still runs when grace is over, its context is cancelled. A
// user stopped between tasks keeps its context for its OnStop, as a
// Locust user killed while it waits still makes its on_stop requests;
// one stopped in a task is interrupted there, and its OnStop sees the
// context cancelled.
func (r *userRun) end(grace time.Duration) {
	r.finish()
	if grace <= 0 {
		// The user marks itself in a task before it checks its loop for
		// the last time: either that check sees the loop finished, or
		// this load sees the mark.
		if r.inTask.Load() {
			r.cancel()
		}
		return
	}
	t := time.AfterFunc(grace, r.cancel)
	go func() {
		<-r.done
		t.Stop()
	}()
}

// pool starts and stops users and keeps them per class.
type pool struct {
	// classes, names and unsupported change when the master sends its
	// classes (guarded by mu); running users keep the class they started
	// with.
	classes     map[string]*UserClass
	names       []string          // known class names, sorted, for messages
	unsupported map[string]string // classes known not to run here, and why
	stats       *statsHub
	limit       *limiter
	open        *openModel // nil: users always pace themselves
	onError     func(exception)
	ctx         context.Context // parent of every user's Ctx

	mu       sync.Mutex
	options  map[string]any       // given to the users started from now on
	edits    map[string]classEdit // the web UI's class editor's changes
	byClass  map[string][]*userRun
	stopping map[*userRun]struct{} // ended gracefully, task still running
	nextID   int
	wg       sync.WaitGroup
}

func newPool(ctx context.Context, classes []*UserClass, stats *statsHub, limit *limiter, onError func(exception), allowNone bool) (*pool, error) {
	p := &pool{
		stats:    stats,
		limit:    limit,
		onError:  onError,
		ctx:      ctx,
		byClass:  map[string][]*userRun{},
		stopping: map[*userRun]struct{}{},
	}
	if _, err := p.setClasses(classes, nil); err != nil {
		return nil, err
	}
	if len(p.classes) == 0 && !allowNone {
		return nil, errors.New("no user classes given")
	}
	return p, nil
}

// setClasses replaces the classes users are started from; unsupported
// names classes that cannot run here, with the reason. Users of classes
// that are no longer there are stopped; it returns them.
func (p *pool) setClasses(classes []*UserClass, unsupported map[string]string) ([]*userRun, error) {
	byName := map[string]*UserClass{}
	var names []string
	for _, c := range classes {
		if err := checkClass(c); err != nil {
			return nil, err
		}
		if _, dup := byName[c.Name]; dup {
			return nil, fmt.Errorf("user class %q is given twice", c.Name)
		}
		byName[c.Name] = c
		names = append(names, c.Name)
	}
	sort.Strings(names)
	p.mu.Lock()
	p.classes, p.names, p.unsupported = byName, names, unsupported
	var gone []string
	for name, runs := range p.byClass {
		if _, ok := byName[name]; !ok && len(runs) > 0 {
			gone = append(gone, name)
		}
	}
	p.mu.Unlock()
	// Users of a class the master no longer has belong to a locustfile
	// that is gone: no spawn would ever stop them.
	var stopped []*userRun
	for _, name := range gone {
		stopped = append(stopped, p.stop(name, int(^uint(0)>>1), 0)...)
	}
	return stopped, nil
}

func (p *pool) class(name string) *UserClass {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.classes[name]
}

func (p *pool) classNames() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.names
}

func checkClass(c *UserClass) error {
	switch {
	case c == nil:
		return errors.New("nil user class")
	case c.Name == "":
		return errors.New("a user class has no name")
	case c.Weight < 0:
		return fmt.Errorf("user class %s: negative weight %d", c.Name, c.Weight)
	case len(c.Tasks) == 0:
		return fmt.Errorf("user class %s has no tasks", c.Name)
	}
	for i, t := range c.Tasks {
		if t.Fn == nil {
			return fmt.Errorf("user class %s: task %d (%q) has no function", c.Name, i, t.Name)
		}
		if t.Weight < 0 {
			return fmt.Errorf("user class %s: task %q has negative weight %d", c.Name, t.Name, t.Weight)
		}
	}
	return nil
}

// counts returns the running users per class, with every class in also
// (even at zero), as the master's user_classes_count. A user stopped
// gracefully counts until its task is over: it still loads the target,
// and a Python worker counts it too.
func (p *pool) counts(also map[string]int64) map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int64{}
	for name := range also {
		if _, ok := p.classes[name]; ok {
			out[name] = 0
		}
	}
	for name, runs := range p.byClass {
		if len(runs) > 0 {
			out[name] += int64(len(runs))
		}
	}
	for r := range p.stopping {
		out[r.u.Class]++
	}
	return out
}

// total is the users running, those stopped gracefully and still in a
// task included.
func (p *pool) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.stopping)
	for _, runs := range p.byClass {
		n += len(runs)
	}
	return n
}

// unknown returns the requested classes (with a positive count) that this
// worker does not have.
func (p *pool) unknown(target map[string]int64) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for name, n := range target {
		if _, ok := p.classes[name]; !ok && n > 0 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// unknownClassError names the missing class and the ones this worker has.
func (p *pool) unknownClassError(name string) exception {
	p.mu.Lock()
	defer p.mu.Unlock()
	if why, ok := p.unsupported[name]; ok {
		return exception{Msg: fmt.Sprintf("user class %s cannot run on a Go worker: %s", name, why)}
	}
	return exception{
		Msg: fmt.Sprintf("unknown user class %q: this Go worker has %s", name, strings.Join(p.names, ", ")),
	}
}

// reconcile starts or stops users so that each known class runs exactly
// its target count, new users getting host(class) as their host. Users
// are stopped newest first; it returns the runs being stopped so the
// caller may wait for them.
func (p *pool) reconcile(target map[string]int64, host func(class string) string, grace time.Duration) []*userRun {
	var stopping []*userRun
	for _, name := range p.classNames() {
		want, ok := target[name]
		if !ok {
			continue
		}
		p.mu.Lock()
		have := int64(len(p.byClass[name]))
		c, _ := p.edited(name)
		p.mu.Unlock()
		switch {
		case want > have:
			p.start(c, host(name), int(want-have))
		case want < have:
			stopping = append(stopping, p.stop(name, int(have-want), grace)...)
		}
	}
	return stopping
}

// setOptions sets the master's parsed options that users started from now
// on see in User.Options.
func (p *pool) setOptions(o map[string]any) {
	p.mu.Lock()
	p.options = o
	p.mu.Unlock()
}

// start starts n users of class c.
func (p *pool) start(c *UserClass, host string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.nextID++
		ctx, cancel := context.WithCancel(p.ctx)
		loop, finish := context.WithCancel(ctx)
		u := &User{Class: c.Name, ID: p.nextID, Host: host, Ctx: ctx, Options: p.options, KeepTasks: c.keep, stats: p.stats.newShard(), onError: p.onError}
		r := &userRun{u: u, cancel: cancel, finish: finish, loop: loop, done: make(chan struct{})}
		p.byClass[c.Name] = append(p.byClass[c.Name], r)
		p.wg.Add(1)
		go p.run(c, r)
	}
}

// stop ends the n newest users of a class.
func (p *pool) stop(class string, n int, grace time.Duration) []*userRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	runs := p.byClass[class]
	n = min(n, len(runs))
	stopped := slices.Clone(runs[len(runs)-n:])
	p.byClass[class] = runs[:len(runs)-n]
	for _, r := range stopped {
		r.end(grace)
		if grace > 0 {
			p.stopping[r] = struct{}{}
		}
	}
	return stopped
}

// stopAll ends every user, including those still finishing a task after
// an earlier graceful stop (cancelled now if grace is 0).
func (p *pool) stopAll(grace time.Duration) []*userRun {
	var out []*userRun
	p.mu.Lock()
	for r := range p.stopping {
		if grace <= 0 {
			r.cancel()
		}
		out = append(out, r)
	}
	// Users of classes the master no longer sends stop too.
	names := make([]string, 0, len(p.byClass))
	for name := range p.byClass {
		names = append(names, name)
	}
	p.mu.Unlock()
	for _, name := range names {
		out = append(out, p.stop(name, int(^uint(0)>>1), grace)...)
	}
	return out
}

// waitRuns waits until the runs have ended or timeout passed; it returns
// how many are still running. A task that ignores u.Ctx can only be waited
// for, not killed.
func waitRuns(runs []*userRun, timeout time.Duration) int {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for i, r := range runs {
		select {
		case <-r.done:
		case <-deadline.C:
			left := 0
			for _, r := range runs[i:] {
				select {
				case <-r.done:
				default:
					left++
				}
			}
			return left
		}
	}
	return 0
}

// run is one user's life: OnStart, tasks picked by weight with the class's
// wait between them, OnStop. A panicking task is reported and the user goes
// on with its next task, as Locust users do.
func (p *pool) run(c *UserClass, r *userRun) {
	if c.OnStart != nil {
		err := p.call(r.u, "on_start", func() error { return c.OnStart(r.u) })
		if err != nil {
			if !errors.Is(err, errPanicked) {
				p.onError(exception{Msg: fmt.Sprintf("%s: on_start: %v", c.Name, err)})
			}
			p.retire(c, r)
			return
		}
	}
	r.pick = taskPicker(c.Tasks)
	p.turns(c, r)
}

// turns runs the user's tasks until it waits or its loop ends. A waiting
// user holds no goroutine: its timer starts the next turns on a fresh one.
// A goroutine keeps the stack its deepest request grew (4 KiB at least,
// the runtime shrinks no further while a frame as large as this loop's is
// on it), and ten thousand users waiting between pages paid it ten
// thousand times.
func (p *pool) turns(c *UserClass, r *userRun) {
	u := r.u
	for r.loop.Err() == nil {
		if scheduled, stop := p.openTurn(r, r.pick); stop {
			break
		} else if scheduled {
			continue
		}
		if p.limit.wait(r.loop) != nil {
			break
		}
		started := time.Now()
		if !p.task(r, r.pick()) {
			break
		}
		var wait time.Duration
		if c.Wait != nil {
			wait = c.Wait(u, started)
		}
		if wait <= 0 {
			// A task that did not block (a dial failing at once with
			// EMFILE, say) would otherwise run its goroutine for a whole
			// time slice again and again: with hundreds of such users,
			// the goroutines that report to the master wait seconds for a
			// turn. Yielding, as a Locust user yields to gevent after
			// every task, puts them back in the queue after one task.
			runtime.Gosched()
			continue
		}
		if p.sleep(c, r, wait) {
			return
		}
	}
	p.end(c, r)
}

// task runs t for r's user, unless its loop has ended (false). The user
// is marked in a task before the loop's last check: see userRun.end.
func (p *pool) task(r *userRun, t *Task) bool {
	r.inTask.Store(true)
	defer r.inTask.Store(false)
	if r.loop.Err() != nil {
		return false
	}
	_ = p.call(r.u, t.Name, func() error { t.Fn(r.u); return nil })
	return true
}

// end runs the user's OnStop and retires it.
func (p *pool) end(c *UserClass, r *userRun) {
	if c.OnStop != nil {
		_ = p.call(r.u, "on_stop", func() error { c.OnStop(r.u); return nil })
	}
	p.retire(c, r)
}

// retire forgets a user whose life is over.
func (p *pool) retire(c *UserClass, r *userRun) {
	r.finish()
	r.cancel()
	p.mu.Lock()
	delete(p.stopping, r)
	// A user may end by itself (OnStart failed); it no longer counts.
	if runs := p.byClass[c.Name]; slices.Contains(runs, r) {
		p.byClass[c.Name] = slices.DeleteFunc(runs, func(x *userRun) bool { return x == r })
	}
	p.mu.Unlock()
	p.stats.retire(r.u.stats)
	close(r.done)
	p.wg.Done()
}

// sleep arms the user's timer to resume its turns after d; it reports
// false when the loop has ended meanwhile and the caller is to end it.
// The timer and the loop's end race to wake the user: whichever stops
// the armed timer first ends the user, and a timer that fired first
// resumes it into a loop that has ended.
func (p *pool) sleep(c *UserClass, r *userRun, d time.Duration) bool {
	if r.wake == nil {
		// Made stopped and armed below, so that the timer's goroutine
		// never reads r.wake before this one has set it.
		r.wake = time.AfterFunc(time.Hour, func() { p.turns(c, r) })
		r.wake.Stop()
		context.AfterFunc(r.loop, func() {
			if r.wake.Stop() {
				p.end(c, r)
			}
		})
	}
	r.wake.Reset(d)
	if r.loop.Err() != nil && r.wake.Stop() {
		return false
	}
	return true
}

var errPanicked = errors.New("panicked")

// call runs fn, turning a panic into an exception for the master.
func (p *pool) call(u *User, what string, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			p.onError(exception{
				Msg:       fmt.Sprintf("%s: %s: panic: %v", u.Class, what, v),
				Traceback: stableStack(debug.Stack()),
			})
			err = errPanicked
		}
	}()
	return fn()
}

// stableStack drops what differs between goroutines from a stack trace
// (the goroutine header and argument words): the master groups exceptions
// by their traceback, so one bug hit by many users makes one row.
func stableStack(st []byte) string {
	lines := strings.Split(strings.TrimSpace(string(st)), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], "goroutine ") {
		lines = lines[1:]
	}
	// Start at the frame that panicked, past the recovering code.
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") && i+2 <= len(lines) {
			lines = lines[i+2:]
			break
		}
	}
	for i, l := range lines {
		if strings.HasPrefix(l, "\t") {
			continue
		}
		if j := strings.Index(l, " in goroutine "); j > 0 && strings.HasPrefix(l, "created by ") {
			lines[i] = l[:j]
			continue
		}
		if j := strings.LastIndexByte(l, '('); j > 0 && strings.HasSuffix(l, ")") {
			lines[i] = l[:j] + "(...)"
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// taskPicker returns a function choosing tasks at random by weight (a
// weight of 0 counts as 1, the zero value meaning "ordinary task").
func taskPicker(tasks []Task) func() *Task {
	cum := make([]int, len(tasks))
	total := 0
	for i, t := range tasks {
		total += max(t.Weight, 1)
		cum[i] = total
	}
	if len(tasks) == 1 {
		return func() *Task { return &tasks[0] }
	}
	return func() *Task {
		n := rand.IntN(total)
		i, _ := slices.BinarySearch(cum, n+1)
		return &tasks[i]
	}
}
