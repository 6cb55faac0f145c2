package boomer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"serverlab/internal/launch"
)

// Worker states as Locust's heartbeats carry them.
const (
	stateReady    = "ready"
	stateSpawning = "spawning"
	stateRunning  = "running"
	stateStopped  = "stopped"
)

const (
	// connectTimeout bounds one dial and the wait for the master's ack
	// before client_ready is sent again (Locust's CONNECT_TIMEOUT).
	connectTimeout = 5 * time.Second
	// stopGrace is how long stopping users may take beyond the master's
	// stop_timeout before they are given up on (and logged).
	stopGrace = 5 * time.Second
	// maxBackoff caps the wait between reconnection attempts.
	maxBackoff = 8 * time.Second
	// clientReadyVersion is the version sent in client_ready. Every 2.x
	// master accepts -1 without a version warning, while a version string
	// warns on any master whose version differs (and Debian's 2.12.1 has
	// an empty one).
	clientReadyVersion = -1
)

// worker is the state of Run in worker mode. The Run goroutine owns it,
// except the fields guarded by mu, which the ticker also reads.
type worker struct {
	b *Boomer
	p *pool

	mu         sync.Mutex
	state      string
	lastTarget map[string]int64
	// ramping is set by each spawn and cleared by the master's
	// spawning_complete at the end of its ramp-up (2.13 and newer), or
	// rampTick after the last spawn: heartbeats then say spawning, so that
	// the master shows this worker spawning while it ramps up, as it shows
	// a Python worker (which takes a while to build its users).
	ramping     bool
	lastSpawnAt time.Time
	acked       bool // a master has acknowledged this worker before
	lastCPU     atomic.Uint64

	lastSpawn   float64
	stopTimeout time.Duration
	// resetOnRamp is the master's --reset-stats, from its latest spawn.
	resetOnRamp bool
	// spawnGen counts the spawns and stops: a spawn that completes late
	// (users stopped gracefully) completes only if nothing came after it.
	spawnMu  sync.Mutex
	spawnGen uint64

	reported map[string]bool // exceptions about the setup sent this test
	lostAt   time.Time       // when the master went away; zero while connected

	// goneMu serializes the master-gone stop with the master's return.
	goneMu    sync.Mutex
	goneTimer *time.Timer // armed while the master is away

	// sentRequests and sentFailures add up the reports of this test that
	// were handed to the connection, for the totals logged at its end.
	sentRequests, sentFailures atomic.Int64
	// unsentReports counts the reports of this test the master did not
	// take; their stats went with a later report.
	unsentReports atomic.Int64
}

func (w *worker) setState(s string) {
	w.mu.Lock()
	w.state = s
	w.mu.Unlock()
}

func (w *worker) getState() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state
}

// sessionEnd says why a connection ended.
type sessionEnd struct {
	done   bool          // Run must return
	reason string        // why the connection was lost
	retry  time.Duration // wait before reconnecting
}

func (b *Boomer) runWorker(ctx context.Context, p *pool) error {
	w := &worker{b: b, p: p, state: stateReady, reported: map[string]bool{}, lastTarget: map[string]int64{}}
	b.mu.Lock()
	b.worker = w
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.worker = nil
		b.mu.Unlock()
	}()
	log := b.log.With("master", fmt.Sprintf("%s:%d", b.opts.MasterHost, b.opts.MasterPort))
	var wait time.Duration
	tries := 0
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-b.quit:
			case <-t.C:
			}
			t.Stop()
		}
		if ctx.Err() != nil || isClosed(b.quit) {
			w.masterBack()
			w.stopUsers()
			return nil
		}
		tries++
		// A send may take as long as the master may stay silent: a master
		// that takes nothing for that long is silent too.
		conn, err := dialMaster(ctx, b.opts.MasterHost, b.opts.MasterPort, b.nodeID, connectTimeout, b.opts.HeartbeatTimeout)
		if err != nil {
			wait = min(max(2*wait, time.Second), maxBackoff)
			log.Warn("cannot reach master", "try", tries, "err", err, "retry_in", wait)
			continue
		}
		log.Info("connected to master", "try", tries, "node_id", b.nodeID)
		end := w.session(ctx, conn)
		conn.close()
		if end.done {
			w.masterBack()
			return nil
		}
		w.masterLost()
		log.Warn("lost master, reconnecting", "reason", end.reason)
		wait, tries = end.retry, 0
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// masterLost starts the count to MasterGoneTimeout when the master goes
// away. A timer, not a check between dials, stops the users: a dial may
// hang (a frozen master's kernel still completes connects), and the users
// must stop loading the target all the same.
func (w *worker) masterLost() {
	if !w.lostAt.IsZero() {
		return
	}
	w.lostAt = time.Now()
	lostAt := w.lostAt
	w.goneMu.Lock()
	w.goneTimer = time.AfterFunc(w.b.opts.MasterGoneTimeout, func() { w.masterGone(lostAt) })
	w.goneMu.Unlock()
}

// masterBack stops the count: the master acknowledged this worker again,
// or Run ends. A stop already under way finishes first.
func (w *worker) masterBack() {
	w.lostAt = time.Time{}
	w.goneMu.Lock()
	if w.goneTimer != nil {
		w.goneTimer.Stop()
		w.goneTimer = nil
	}
	w.goneMu.Unlock()
}

// masterGone stops the users once the master has stayed away longer than
// MasterGoneTimeout, so a worker without a master stops loading the
// target; a returning master starts a new test.
func (w *worker) masterGone(lostAt time.Time) {
	w.goneMu.Lock()
	defer w.goneMu.Unlock()
	if w.goneTimer == nil {
		return // the master came back meanwhile
	}
	w.goneTimer = nil
	if n := w.p.total(); n > 0 {
		w.b.log.Warn("master gone too long, stopping users", "gone_for", time.Since(lostAt).Round(time.Second), "users", n)
		w.stopUsers()
		w.b.stats.reset()
	}
	w.setState(stateReady)
}

// stopUsers stops every user and waits for them (bounded).
func (w *worker) stopUsers() {
	runs := w.p.stopAll(w.stopTimeout)
	if left := waitRuns(runs, w.stopTimeout+stopGrace); left > 0 {
		w.b.log.Warn("users still running after stop: a task or on_stop ignores User.Ctx", "users", left)
	}
}

// session speaks to one master connection until it ends.
func (w *worker) session(ctx context.Context, conn *masterConn) sessionEnd {
	b := w.b
	b.mu.Lock()
	b.conn = conn
	b.mu.Unlock()
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		b.mu.Lock()
		b.conn = nil
		b.mu.Unlock()
		cancel()
		conn.close() // ends the receiver
		wg.Wait()
	}()

	msgs := make(chan message)
	recvErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m, err := conn.recv()
			if err != nil {
				var bad *badMessageError
				if errors.As(err, &bad) {
					b.log.Warn("bad message from master", "err", err)
					continue
				}
				recvErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-sctx.Done():
				return
			}
		}
	}()

	if err := conn.send("client_ready", clientReadyVersion); err != nil {
		return sessionEnd{reason: conn.why(err), retry: time.Second}
	}
	ackWait := time.NewTimer(connectTimeout)
	defer ackWait.Stop()
	acked := false
	var masterBeat atomic.Int64
	hbLost := make(chan string, 1)
	// Spawns and stops wait here while the classes are awaited.
	held, holding := []message(nil), false
	holdTimer := time.NewTimer(time.Hour)
	holdTimer.Stop()
	defer holdTimer.Stop()
	release := func() {
		holding = false
		holdTimer.Stop()
		for _, m := range held {
			w.handleHeld(conn, m)
		}
		held = nil
	}

	for {
		select {
		case <-ctx.Done():
			w.shutdown(conn, true)
			return sessionEnd{done: true}
		case <-b.quit:
			w.shutdown(conn, true)
			return sessionEnd{done: true}
		case err := <-recvErr:
			return sessionEnd{reason: conn.why(err)}
		case reason := <-hbLost:
			return sessionEnd{reason: reason}
		case <-b.classesSet:
			if holding {
				b.log.Debug("classes known, handling held messages", "held", len(held))
				release()
			}
		case <-holdTimer.C:
			if holding {
				b.log.Warn("the master sent no user classes; its locustfile may not import serverlab_locust.declare",
					"waited", b.opts.AwaitClasses)
				release()
			}
		case <-ackWait.C:
			if acked {
				continue
			}
			b.log.Info("no ack from master yet, sending client_ready again")
			if err := conn.send("client_ready", clientReadyVersion); err != nil {
				return sessionEnd{reason: conn.why(err), retry: time.Second}
			}
			ackWait.Reset(connectTimeout)
		case m := <-msgs:
			switch m.Type {
			case "ack":
				idx, _ := asStringMap(m.Data)
				b.log.Info(launch.WorkerReady, "index", idx["index"])
				w.masterBack()
				if !acked {
					w.newConnection()
					acked = true
					wg.Add(1)
					go func() {
						defer wg.Done()
						w.ticker(sctx, conn, &masterBeat, hbLost)
					}()
					if b.opts.AwaitClasses > 0 {
						select { // a stale answer from an earlier master
						case <-b.classesSet:
						default:
						}
						holding = true
						holdTimer.Reset(b.opts.AwaitClasses)
					}
					b.mu.Lock()
					fn := b.onConnected
					b.mu.Unlock()
					if fn != nil {
						fn()
					}
				}
			case "heartbeat":
				if masterBeat.Swap(time.Now().UnixNano()) == 0 {
					// From now on a silent master is noticed; before the
					// first heartbeat it may be one that sends none.
					b.log.Info("master sends heartbeats", "timeout", b.opts.HeartbeatTimeout)
				}
			case "spawn", "stop":
				if holding {
					held = append(held, m)
					continue
				}
				w.handleHeld(conn, m)
			case "quit":
				b.log.Info("master says quit")
				w.shutdown(conn, false)
				return sessionEnd{done: true}
			case "reconnect":
				return sessionEnd{reason: "master asked to reconnect"}
			case "spawning_complete":
				w.endRamp()
				if w.resetOnRamp {
					w.resetStats()
				}
				w.heartbeat(conn)
			case "update_user_class":
				w.editClass(conn, m.Data)
			default:
				if fn := b.handler(m.Type); fn != nil {
					w.custom(m, fn)
				} else {
					b.log.Warn("unknown message type from master", "type", m.Type)
				}
			}
		}
	}
}

// handleHeld handles a spawn or stop, which may have waited for the
// classes.
func (w *worker) handleHeld(conn *masterConn, m message) {
	if m.Type == "stop" {
		w.stop(conn)
		return
	}
	w.spawn(conn, m.Data)
}

// custom runs a registered handler; its panic must not end the worker.
func (w *worker) custom(m message, fn func(any)) {
	defer func() {
		if v := recover(); v != nil {
			w.b.log.Error("handler for custom message panicked", "type", m.Type, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	fn(m.Data)
}

// ticker sends heartbeats every second, stats every report interval and
// user exceptions as they come; it reports a silent master on hbLost.
func (w *worker) ticker(ctx context.Context, conn *masterConn, masterBeat *atomic.Int64, hbLost chan<- string) {
	b := w.b
	beat := time.NewTicker(time.Second)
	defer beat.Stop()
	report := time.NewTicker(b.opts.ReportInterval)
	defer report.Stop()
	logs := time.NewTicker(logInterval)
	defer logs.Stop()
	var logSeq int64
	sendLogs := func() {
		// Masters before 2.13 send no heartbeats, and know no logs
		// message (they would log each one as unknown).
		if masterBeat.Load() == 0 {
			return
		}
		lines, seq := b.logs.since(logSeq)
		if lines == nil {
			return
		}
		// Locust's master keeps the last list each worker sent.
		if err := conn.send("logs", map[string]any{"worker_id": b.nodeID, "logs": lines}); err != nil {
			b.log.Warn("cannot send logs", "err", err)
			return
		}
		logSeq = seq
	}
	b.cpu.cpuPercent() // start the measuring interval
	var gaps beatGap
	beatNow := func() {
		w.lastCPU.Store(math.Float64bits(b.cpu.cpuPercent()))
		w.heartbeat(conn)
		wait, ok := runWait()
		if msg, late := gaps.next(time.Now(), cpuTime(), wait, ok); late {
			b.log.Warn(msg)
		}
	}
	// The first heartbeat goes at once: a master that sends heartbeats
	// answers it, and only a master that has answered can be judged
	// silent, so the sooner it answers, the shorter the time in which a
	// master frozen early would go unnoticed.
	beatNow()
	for {
		select {
		case <-ctx.Done():
			return
		case <-logs.C:
			sendLogs()
		case e := <-b.excs:
			w.sendException(conn, e)
		case <-report.C:
			if err := w.report(conn); err != nil {
				b.log.Warn("cannot send stats", "err", err)
			}
		case <-beat.C:
			beatNow()
			if logSeq == 0 {
				sendLogs() // the first lines as soon as the master is known to take them
			}
			if n := b.dropped.Swap(0); n > 0 {
				b.log.Warn("user exceptions dropped, too many to send", "count", n)
			}
			// Masters older than 2.13 never send heartbeats; only a master
			// that has sent one can be judged silent.
			if last := masterBeat.Load(); last != 0 {
				if gone := time.Since(time.Unix(0, last)); gone > b.opts.HeartbeatTimeout {
					select {
					case hbLost <- fmt.Sprintf("no heartbeat from master for %s", gone.Round(time.Second)):
					default:
					}
					return
				}
			}
		}
	}
}

// lateBeat is the gap between two heartbeats that the worker reports:
// Locust's master counts a worker missing once it has heard none for 4
// to 5 s (a heartbeat sets its count to HEARTBEAT_LIVENESS, 3; a check a
// second takes one off, and finds it missing below 0), and stops a test
// whose last worker went missing.
const lateBeat = 2 * time.Second

// beatGap follows the heartbeats sent, with the process's CPU time and
// its threads' wait for a CPU at each, so that a gap the master may take
// for a lost worker is logged with what the worker did meanwhile.
type beatGap struct {
	at        time.Time // the previous heartbeat; zero before the first
	cpu, wait time.Duration
	waitKnown bool
}

// next records a heartbeat sent at now; after a gap of lateBeat or more
// it returns what happened in the gap, and true.
func (g *beatGap) next(now time.Time, cpu, wait time.Duration, waitKnown bool) (string, bool) {
	prev := *g
	g.at, g.cpu, g.wait, g.waitKnown = now, cpu, wait, waitKnown
	if prev.at.IsZero() {
		return "", false
	}
	gap := now.Sub(prev.at)
	if gap < lateBeat {
		return "", false
	}
	used := max(cpu-prev.cpu, 0)
	msg := fmt.Sprintf("no heartbeat went to the master for %s (a master's default limit is 4 to 5 s); meanwhile this worker used %s of CPU",
		gap.Round(100*time.Millisecond), used.Round(10*time.Millisecond))
	waited := time.Duration(-1)
	if waitKnown && prev.waitKnown {
		waited = max(wait-prev.wait, 0)
		msg += fmt.Sprintf(" and its threads waited %s for one", waited.Round(10*time.Millisecond))
	}
	switch {
	case waited >= gap/2 && used < gap/2:
		msg += ": it was ready to run but got no CPU, the CPUs it may use being busy with other work"
	case used >= gap*9/10 || waited >= 0 && used+waited >= gap*9/10:
		// Its users' work queued before the heartbeat: Go's scheduler
		// has no priorities.
		msg += ": it was running or ready to run all along, its users' work ahead of the heartbeat: it needs more CPU than it got"
	case waited >= 0:
		msg += ": neither busy nor kept from a CPU, so a send to the master or a lock held the heartbeat back"
	}
	return msg, true
}

func (w *worker) sendException(conn *masterConn, e exception) {
	tb := e.Traceback
	if tb == "" {
		// The master groups exceptions by their traceback alone: errors
		// without one would all share the first one's row.
		tb = e.Msg + "\n"
	}
	if err := conn.send("exception", map[string]any{"msg": e.Msg, "traceback": tb}); err != nil {
		w.b.log.Warn("cannot send exception", "err", err)
	}
}

// report sends the stats collected since the previous report. Stats the
// master did not take are kept for the next report, on this connection or
// the next one (a Python worker loses them).
func (w *worker) report(conn *masterConn) error { return w.sendStats(conn, false) }

// sendStats is report; a final report counts no users, as they are being
// stopped.
func (w *worker) sendStats(conn *masterConn, final bool) error {
	rep := w.b.stats.collect()
	stats, total, errs := rep.serialize()
	w.mu.Lock()
	target := w.lastTarget
	w.mu.Unlock()
	users, classes := int64(w.p.total()), w.p.counts(target)
	if final {
		users = 0
		for name := range classes {
			classes[name] = 0
		}
	}
	err := conn.send("stats", map[string]any{
		"stats":              stats,
		"stats_total":        total,
		"errors":             errs,
		"user_count":         users,
		"user_classes_count": classes,
	})
	tot := rep.total()
	if err != nil {
		w.b.stats.keep(rep)
		w.unsentReports.Add(1)
		return fmt.Errorf("%w (kept for the next report: %d requests, %d failures)", err, tot.numRequests, tot.numFailures)
	}
	w.sentRequests.Add(tot.numRequests)
	w.sentFailures.Add(tot.numFailures)
	w.b.log.Debug("stats sent", "requests", tot.numRequests, "failures", tot.numFailures)
	return nil
}

// logTotals logs what this worker counted in the test that ends, and how
// much of it went to the master, so that both can be compared with the
// master's figures.
func (w *worker) logTotals(why string) {
	run := w.b.stats.runTable().total()
	w.b.log.Info("test totals", "why", why,
		"requests", run.numRequests, "failures", run.numFailures,
		"sent_requests", w.sentRequests.Load(), "sent_failures", w.sentFailures.Load(),
		"unsent_reports", w.unsentReports.Load())
}

// spawn handles the master's absolute per-class user counts.
func (w *worker) spawn(conn *masterConn, data any) {
	b := w.b
	if err := conn.send("spawning", nil); err != nil {
		b.log.Warn("cannot send spawning", "err", err)
	}
	job, ok := asStringMap(data)
	if !ok {
		b.log.Warn("spawn message without a map", "data", data)
		return
	}
	ts, _ := asFloat(job["timestamp"])
	if ts <= w.lastSpawn {
		b.log.Info("discarding a spawn message not newer than the previous one")
		return
	}
	w.lastSpawn = ts
	counts, ok := asStringMap(job["user_classes_count"])
	if !ok {
		b.log.Warn("spawn message without user_classes_count", "data", data)
		return
	}
	target := make(map[string]int64, len(counts))
	for name, v := range counts {
		n, _ := asInt(v)
		target[name] = max(n, 0)
	}
	st, _ := asFloat(job["stop_timeout"])
	w.stopTimeout = time.Duration(st * float64(time.Second))
	spawnHost, _ := job["host"].(string)
	opts, _ := asStringMap(job["parsed_options"])
	w.resetOnRamp = opts["reset_stats"] == true

	if s := w.getState(); s != stateRunning && s != stateSpawning {
		// A new test: forget the previous one's numbers, as Locust does.
		w.resetStats()
		b.excMu.Lock()
		clear(b.excCount)
		b.excMu.Unlock()
		clear(w.reported)
	}
	w.setState(stateSpawning)
	w.mu.Lock()
	w.lastTarget = target
	w.ramping, w.lastSpawnAt = true, time.Now()
	w.mu.Unlock()
	b.log.Debug("spawn", "users", target, "timestamp", ts)

	for _, name := range w.p.unknown(target) {
		if !w.reported["class:"+name] {
			w.reported["class:"+name] = true
			e := w.p.unknownClassError(name)
			b.log.Error(e.Msg)
			w.sendException(conn, e)
		}
	}
	var want int64
	for _, n := range target {
		want += n
	}
	// Once a test, when a spawn first asks for more than fits.
	if !w.reported["fds"] && b.warnDescriptors(want) {
		w.reported["fds"] = true
	}
	w.p.setOptions(opts)
	host := spawnHost
	var err error
	if b.opts.ResolveHost != nil {
		host, err = b.opts.ResolveHost(spawnHost, opts)
	}
	// A class given a host of its own in the web UI keeps it unless the
	// run has a host, which Locust gives every class.
	hostFor := func(class string) string {
		if strings.TrimSpace(spawnHost) == "" {
			if h := w.p.classHost(class); h != "" {
				return h
			}
		}
		return host
	}
	if err != nil && strings.TrimSpace(spawnHost) == "" {
		covered := true
		for name, n := range target {
			if n > 0 && w.p.classHost(name) == "" {
				covered = false
			}
		}
		if covered {
			err = nil
		}
	}
	if err != nil {
		msg := "cannot start users: " + err.Error()
		if !w.reported["host:"+msg] {
			w.reported["host:"+msg] = true
			b.log.Error(msg)
			w.sendException(conn, exception{Msg: msg})
		}
	}
	var stopping []*userRun
	if err == nil {
		// Stopping users finish in the background: heartbeats and further
		// spawns must not wait for slow tasks.
		stopping = w.p.reconcile(target, hostFor, w.stopTimeout)
	}
	if w.resetOnRamp {
		// What the users did before this spawn belongs to the ramp-up,
		// which the master forgets once it is over (and masters before
		// 2.13 send no spawning_complete to say when).
		w.resetStats()
	}
	gen := w.nextSpawn()
	if w.stopTimeout <= 0 || len(stopping) == 0 {
		w.completeSpawn(conn, gen, target)
		return
	}
	// Users stopped gracefully finish their task first: as on a Python
	// worker, the spawn is complete, and the master counts them gone,
	// once they have ended (or the stop timeout ended them).
	wait := w.stopTimeout + stopGrace
	go func() {
		waitRuns(stopping, wait)
		w.completeSpawn(conn, gen, target)
	}()
}

// nextSpawn starts a new spawn or stop: a spawn still completing is
// superseded.
func (w *worker) nextSpawn() uint64 {
	w.spawnMu.Lock()
	defer w.spawnMu.Unlock()
	w.spawnGen++
	return w.spawnGen
}

// completeSpawn tells the master spawn gen is complete, unless a spawn
// or stop came after it.
func (w *worker) completeSpawn(conn *masterConn, gen uint64, target map[string]int64) {
	w.spawnMu.Lock()
	defer w.spawnMu.Unlock()
	if w.spawnGen != gen {
		return
	}
	counts := w.p.counts(target)
	var total int64
	for _, n := range counts {
		total += n
	}
	if err := conn.send("spawning_complete", map[string]any{"user_classes_count": counts, "user_count": total}); err != nil {
		w.b.log.Warn("cannot send spawning_complete", "err", err)
	}
	w.setState(stateRunning)
	beat := w.beatState()
	w.b.log.Debug("spawn complete", "users", total, "heartbeat_state", beat)
	if beat == stateSpawning {
		// The master took spawning_complete for the end of this worker's
		// ramp-up; it is not over until the master says so.
		w.heartbeat(conn)
	}
}

// resetStats forgets what the users recorded: when a new test starts,
// and with the master's --reset-stats when a ramp-up is over. The master
// then resets its own stats, and forgets only what it has been told:
// what this worker recorded and has not reported yet would reach it
// after the reset, so it goes too. A Python worker does this only when
// given --reset-stats itself; a Go worker takes the option from the
// master.
func (w *worker) resetStats() {
	w.b.stats.reset()
	w.sentRequests.Store(0)
	w.sentFailures.Store(0)
	w.unsentReports.Store(0)
}

// heartbeat tells the master this worker's state and load.
func (w *worker) heartbeat(conn *masterConn) {
	err := conn.send("heartbeat", map[string]any{
		"state":                w.beatState(),
		"current_cpu_usage":    math.Float64frombits(w.lastCPU.Load()),
		"current_memory_usage": residentBytes(),
	})
	if err != nil {
		w.b.log.Warn("cannot send heartbeat", "err", err)
	}
}

// stop handles the master's stop: the test is over, the worker stays.
func (w *worker) stop(conn *masterConn) {
	w.nextSpawn()
	w.setState(stateStopped)
	w.endRamp()
	w.stopUsers()
	// The next test's users pace themselves unless told an arrival rate.
	w.b.EndArrivals()
	// The test's last numbers go out now: a new spawn would discard them.
	if err := w.report(conn); err != nil {
		w.b.log.Warn("cannot send stats", "err", err)
	}
	w.logTotals("stop")
	if err := conn.send("client_stopped", nil); err != nil {
		w.b.log.Warn("cannot send client_stopped", "err", err)
	}
	if err := conn.send("client_ready", clientReadyVersion); err != nil {
		w.b.log.Warn("cannot send client_ready", "err", err)
	}
	clear(w.reported)
	w.setState(stateReady)
}

// shutdown stops the users and sends the last stats; sayQuit tells the
// master this worker leaves on its own. A master that says quit waits only
// half a second for final reports before it exits, so the report leaves
// first: the stats are sealed and sent at once, and only then are the
// users told to stop and waited for. Stopping hundreds of users first (and
// the report contending with their exits) took most of that half second
// on a busy machine; the users run on while the report leaves, but what
// they record is dropped, as a Python worker's killed users' is.
func (w *worker) shutdown(conn *masterConn, sayQuit bool) {
	w.b.stats.seal()
	if err := w.sendStats(conn, true); err != nil {
		w.b.log.Warn("cannot send final stats", "err", err)
	}
	runs := w.p.stopAll(w.stopTimeout)
	w.logTotals("quit")
	if left := waitRuns(runs, w.stopTimeout+stopGrace); left > 0 {
		w.b.log.Warn("users still running after stop: a task or on_stop ignores User.Ctx", "users", left)
	}
	if sayQuit {
		if err := conn.send("quit", nil); err != nil {
			w.b.log.Warn("cannot send quit", "err", err)
		}
	}
}

// rampTick is how long after a spawn a worker still says spawning if the
// master's spawning_complete does not come: a ramping master sends a
// spawn every second.
const rampTick = 2 * time.Second

// beatState is the state a heartbeat reports.
func (w *worker) beatState() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == stateRunning && w.ramping && time.Since(w.lastSpawnAt) < rampTick {
		return stateSpawning
	}
	return w.state
}

func (w *worker) endRamp() {
	w.mu.Lock()
	w.ramping = false
	w.mu.Unlock()
}

// editClass applies the web UI's change to one class (update_user_class).
func (w *worker) editClass(conn *masterConn, data any) {
	settings, ok := asStringMap(data)
	if !ok {
		w.b.log.Warn("update_user_class without a map", "data", data)
		return
	}
	if err := w.p.edit(settings); err != nil {
		w.b.log.Error(err.Error())
		w.sendException(conn, exception{Msg: err.Error()})
		return
	}
	w.b.log.Info("user class edited in the web UI", "class", settings["user_class_name"], "host", settings["host"], "tasks", settings["tasks"])
}

// newConnection runs when a master acknowledges this worker. A master
// that acknowledges it again, after the connection was lost, is a new
// master or one that has given this worker's users to others meanwhile
// (it marked it missing); either way the users of before belong to no
// test it knows, so they stop and their numbers are dropped. A master
// with a test running sends a spawn right after, as it does for any
// worker that joins.
func (w *worker) newConnection() {
	again := w.acked
	w.acked = true
	if !again {
		return
	}
	w.nextSpawn()
	if n := w.p.total(); n > 0 {
		w.b.log.Warn("master connection new: stopping the users of the test before it", "users", n)
		// At once: the new master waits for this worker's heartbeats.
		if left := waitRuns(w.p.stopAll(0), stopGrace); left > 0 {
			w.b.log.Warn("users still running after stop: a task or on_stop ignores User.Ctx", "users", left)
		}
	}
	w.b.stats.reset()
	w.sentRequests.Store(0)
	w.sentFailures.Store(0)
	clear(w.reported)
	w.endRamp()
	w.setState(stateReady)
}
