package boomer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Boomer runs user classes, either as a worker of a Locust master or
// standalone.
type Boomer struct {
	opts   Options
	log    *slog.Logger
	logs   *logRing // what log has written lately, for the master's Logs tab
	nodeID string

	standalone bool
	users      int
	spawnRate  float64
	runTime    time.Duration

	stats *statsHub
	limit *limiter
	open  openModel
	cpu   procUsage

	quitOnce sync.Once
	quit     chan struct{}

	mu          sync.Mutex
	handlers    map[string]func(data any)
	conn        *masterConn // nil while not connected
	pool        *pool       // nil outside Run
	worker      *worker     // nil outside Run as a worker
	preset      []*UserClass
	presetWhy   map[string]string
	onConnected func()
	// classesSet says SetClasses was called: a held spawn may go on.
	classesSet chan struct{}

	excs     chan exception
	dropped  atomic.Int64
	excCount map[string]int // standalone: occurrences per distinct message
	excMu    sync.Mutex
}

// NewBoomer returns a Boomer that connects to the master in opts.
func NewBoomer(opts Options) *Boomer {
	if opts.MasterHost == "" {
		opts.MasterHost = "127.0.0.1"
	}
	if opts.MasterPort == 0 {
		opts.MasterPort = 5557
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = 10 * time.Second
	}
	if opts.MasterGoneTimeout <= 0 {
		opts.MasterGoneTimeout = 60 * time.Second
	}
	if opts.ReportInterval <= 0 {
		opts.ReportInterval = 3 * time.Second
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	logs := newLogRing()
	return &Boomer{
		opts:     opts,
		log:      slog.New(&teeHandler{next: lg.Handler(), ring: logs}),
		logs:     logs,
		nodeID:   newNodeID(),
		stats:    newStatsHub(),
		limit:    newLimiter(opts.MaxRPS),
		quit:     make(chan struct{}),
		handlers: map[string]func(any){},
		excs:     make(chan exception, 256),
		excCount: map[string]int{},

		classesSet: make(chan struct{}, 1),
	}
}

// SetClasses replaces the classes users are started from (users already
// running keep theirs), and lets spawns held by Options.AwaitClasses go
// on. unsupported names the classes that cannot run here, and why; a
// spawn asking for one reports that reason to the master. The users of a
// class no longer given are stopped, and the statistics not yet reported
// dropped: they belong to a master that is gone. Before Run it sets the
// classes Run adds to those it is given.
func (b *Boomer) SetClasses(classes []*UserClass, unsupported map[string]string) error {
	b.mu.Lock()
	p := b.pool
	if p == nil {
		for _, c := range classes {
			if err := checkClass(c); err != nil {
				b.mu.Unlock()
				return err
			}
		}
		b.preset, b.presetWhy = classes, unsupported
	}
	b.mu.Unlock()
	if p != nil {
		stopped, err := p.setClasses(classes, unsupported)
		if err != nil {
			return err
		}
		if len(stopped) > 0 {
			// Their numbers belong to a master, and a locustfile, that
			// are gone.
			if left := waitRuns(stopped, stopGrace); left > 0 {
				b.log.Warn("users of a class the master no longer has still running: a task ignores User.Ctx", "users", left)
			}
			b.log.Info("stopped the users of classes the master no longer has", "users", len(stopped))
			b.stats.reset()
			b.mu.Lock()
			w := b.worker
			b.mu.Unlock()
			if w != nil && p.total() == 0 {
				// Nothing runs: a master waiting for ready workers must
				// see this one as ready.
				w.setState(stateReady)
			}
		}
	}
	select {
	case b.classesSet <- struct{}{}:
	default:
	}
	return nil
}

// OnConnected sets fn to run each time a master acknowledges this worker
// on a new connection, before any spawn is handled; fn may SendMessage.
func (b *Boomer) OnConnected(fn func()) {
	b.mu.Lock()
	b.onConnected = fn
	b.mu.Unlock()
}

// NewStandaloneBoomer returns a Boomer that needs no master: Run starts users
// at spawnRate per second up to users, runs them for runTime (0: until ctx
// is done or Quit) and returns.
func NewStandaloneBoomer(opts Options, users int, spawnRate float64, runTime time.Duration) *Boomer {
	b := NewBoomer(opts)
	b.standalone, b.users, b.spawnRate, b.runTime = true, users, spawnRate, runTime
	return b
}

// NodeID returns the id this worker gives the master.
func (b *Boomer) NodeID() string { return b.nodeID }

// Run runs the classes until the master says quit, ctx is done, Quit is
// called, or (standalone) the run time is over; it then stops all users and
// returns nil. It returns an error only when it cannot start.
func (b *Boomer) Run(ctx context.Context, classes ...*UserClass) error {
	if b.standalone {
		if b.users < 0 {
			return fmt.Errorf("negative user count %d", b.users)
		}
		if b.spawnRate <= 0 {
			return fmt.Errorf("spawn rate must be positive, got %g", b.spawnRate)
		}
	}
	// The package-level RecordSuccess/RecordFailure go to the Boomer that
	// started last.
	running.Store(b)
	defer running.CompareAndSwap(b, nil)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.mu.Lock()
	classes = append(slices.Clone(classes), b.preset...)
	why := b.presetWhy
	b.mu.Unlock()
	p, err := newPool(ctx, classes, b.stats, b.limit, b.userError, b.opts.AwaitClasses > 0)
	if err != nil {
		return err
	}
	p.open = &b.open
	defer b.EndArrivals()
	p.unsupported = why
	b.mu.Lock()
	b.pool = p
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.pool = nil
		b.mu.Unlock()
	}()
	// Users see their context end, then Run waits for them, but not
	// forever: a task that ignores User.Ctx (logged by the stop) must not
	// keep the run going past its end.
	defer func() {
		cancel()
		if !waitGroup(&p.wg, stopGrace) {
			b.log.Warn("returning with users still running: a task or on_stop ignores User.Ctx")
		}
	}()

	if b.standalone {
		return b.runStandalone(ctx, p)
	}
	return b.runWorker(ctx, p)
}

// Quit stops all users and makes Run return.
func (b *Boomer) Quit() {
	b.quitOnce.Do(func() { close(b.quit) })
}

// SendMessage sends a custom message to the master; the locustfile receives
// it with environment.runner.register_message(msgType, ...).
func (b *Boomer) SendMessage(msgType string, data any) error {
	b.mu.Lock()
	c := b.conn
	b.mu.Unlock()
	if c == nil {
		return errors.New("not connected to a master")
	}
	return c.send(msgType, data)
}

// RegisterMessage registers fn for custom messages of msgType from the
// master (sent with environment.runner.send_message). fn runs on the
// goroutine that reads from the master, so it should not block long.
func (b *Boomer) RegisterMessage(msgType string, fn func(data any)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if fn == nil {
		delete(b.handlers, msgType)
		return
	}
	b.handlers[msgType] = fn
}

func (b *Boomer) handler(msgType string) func(any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.handlers[msgType]
}

// Summary returns a Locust-style statistics table of the whole run (since
// the last test start).
func (b *Boomer) Summary() string {
	b.excMu.Lock()
	excs := make(map[string]int, len(b.excCount))
	for k, v := range b.excCount {
		excs[k] = v
	}
	b.excMu.Unlock()
	return summary(b.stats.runTable(), excs)
}

// Totals returns the requests and failures of the whole run (since the
// last test start).
func (b *Boomer) Totals() (requests, failures int64) {
	t := b.stats.runTable().total()
	return t.numRequests, t.numFailures
}

// userError takes exceptions from users. It never blocks a user: when the
// queue to the master is full the exception is only counted.
func (b *Boomer) userError(e exception) {
	if b.standalone {
		b.excMu.Lock()
		b.excCount[e.Msg]++
		first := b.excCount[e.Msg] == 1
		b.excMu.Unlock()
		if first {
			b.log.Error("user error", "error", e.Msg, "traceback", e.Traceback)
		}
		return
	}
	select {
	case b.excs <- e:
	default:
		b.dropped.Add(1)
	}
}

// RecordSuccess records a successful request on the running Boomer, in the
// shape of myzhan/boomer's function. It is a no-op when no Boomer runs.
func RecordSuccess(requestType, name string, responseTimeMs int64, responseLength int64) {
	if h := currentHub(); h != nil {
		h.record(requestType, name, float64(responseTimeMs), responseLength, "", false)
	}
}

// RecordFailure records a failed request on the running Boomer.
func RecordFailure(requestType, name string, responseTimeMs int64, exception string) {
	if h := currentHub(); h != nil {
		h.record(requestType, name, float64(responseTimeMs), 0, exception, true)
	}
}

// waitGroup waits for wg at most d; it reports whether wg finished.
func waitGroup(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
