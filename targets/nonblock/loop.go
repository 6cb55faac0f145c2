package nonblock

import (
	"fmt"
	"log"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/targets/httpcore"
)

// Stats is what a Loop reports to; *server.Stats is one.
type Stats interface {
	Accepted()
	Closed()
	// AcceptError counts a failed accept and returns how long to stop
	// accepting (0: try again at once).
	AcceptError(err error) time.Duration
	AcceptOK()
}

// Options configure a Loop.
type Options struct {
	Site     *httpcore.Site
	Stats    Stats
	Log      *log.Logger
	Listener int // a listening socket; NewLoop makes it non-blocking
	Limits   Limits
	// ShutdownTimeout is how long in-flight connections may finish after
	// Shutdown before they are closed regardless.
	ShutdownTimeout time.Duration
	// Done, when set, is closed when shutdown begins. The runtime also
	// shuts the listener down then, so an accept error is first checked
	// against it rather than counted and logged as a failure.
	Done <-chan struct{}
	// FDLimit, when positive, is the first descriptor the model cannot
	// watch; connections accepted at or above it are closed at once, and
	// FDLimitWhy says why in the (rate-limited) log line.
	FDLimit    int
	FDLimitWhy string
	// Shed, when set, is called after an accept on the listener failed
	// (and was counted): true means it dealt with the clients waiting
	// (--on-emfile shed resets them), so the loop accepts again when the
	// listener is next readable instead of backing off.
	Shed func(lfd int, err error) bool
	// Watch, when set, is told every time a connection's Want changes,
	// with the old Want: 0 for a new connection, and WantClose just before
	// its socket is closed. Models that keep their interest set in the
	// kernel (epoll) update it here; the others rebuild theirs from Conns.
	// An error closes the connection, since it could never be served.
	Watch func(c *Conn, old Want) error
}

// maxAccepts bounds the connections accepted per turn so that a flood of
// new connections does not starve the ones already accepted.
const maxAccepts = 64

// unexpectedPause is how long accepting stops after an accept error the
// Stats do not ask a back-off for and that is not known to be transient, so
// that a broken listener does not spin the loop.
const unexpectedPause = 100 * time.Millisecond

// Loop is the state of one event loop apart from its readiness mechanism:
// the connections, their timers, the listener's back-off and the shutdown.
// It is used by one goroutine only.
type Loop struct {
	opt    Options
	conns  []*Conn
	byFD   []*Conn
	free   []*Conn
	timers Timers

	pausedUntil time.Time // accepting stopped after an accept error
	draining    bool
	drainDue    time.Time
	refusals    rateLog
	watchErrs   rateLog
}

// NewLoop makes the listener non-blocking and returns an empty Loop.
func NewLoop(opt Options) (*Loop, error) {
	if err := unix.SetNonblock(opt.Listener, true); err != nil {
		return nil, err
	}
	return &Loop{opt: opt}, nil
}

// Conns is every open connection, in no particular order. It is the
// Loop's own slice: valid until the next call that may close or accept.
func (l *Loop) Conns() []*Conn { return l.conns }

// Conn is the connection on fd, or nil.
func (l *Loop) Conn(fd int) *Conn {
	if fd < 0 || fd >= len(l.byFD) {
		return nil
	}
	return l.byFD[fd]
}

// Listening reports whether the listener should be watched: not while
// backing off after an accept error, nor once shutdown has begun.
func (l *Loop) Listening(now time.Time) bool {
	return !l.draining && !now.Before(l.pausedUntil)
}

// Draining reports whether Shutdown was called.
func (l *Loop) Draining() bool { return l.draining }

// Accept accepts connections until the listener has none (or maxAccepts),
// as non-blocking, close-on-exec sockets. On an error it asks the Stats
// for a back-off and, if there is one, stops accepting until it is over,
// without sleeping: the loop keeps serving meanwhile.
func (l *Loop) Accept(now time.Time) {
	if !l.Listening(now) {
		return
	}
	ok := false
	for range maxAccepts {
		fd, _, err := unix.Accept4(l.opt.Listener, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			if err == unix.EAGAIN {
				break
			}
			if l.shuttingDown() {
				l.Shutdown(now)
				break
			}
			d := l.opt.Stats.AcceptError(err)
			if l.opt.Shed != nil && l.opt.Shed(l.opt.Listener, err) {
				break
			}
			if d == 0 && err != unix.ECONNABORTED && err != unix.EINTR {
				d = unexpectedPause
			}
			if d > 0 {
				l.pausedUntil = now.Add(d)
				break
			}
			continue
		}
		ok = true
		l.opt.Stats.Accepted()
		if l.opt.FDLimit > 0 && fd >= l.opt.FDLimit {
			l.refuse(fd, now)
			continue
		}
		l.add(fd, now)
	}
	if ok {
		l.opt.Stats.AcceptOK()
	}
}

func (l *Loop) shuttingDown() bool {
	select {
	case <-l.opt.Done:
		return true
	default:
		return false
	}
}

// refuse closes a connection the model cannot watch, logging at most once a
// second how many were refused.
func (l *Loop) refuse(fd int, now time.Time) {
	unix.Close(fd)
	l.opt.Stats.Closed()
	l.refusals.logf(l.opt.Log, now, "closed the connection on fd %d: %s", fd, l.opt.FDLimitWhy)
}

// rateLog logs at most once a second, counting what it left out.
type rateLog struct {
	last    time.Time
	skipped int
}

func (r *rateLog) logf(lg *log.Logger, now time.Time, format string, args ...any) {
	if lg == nil {
		return
	}
	if now.Sub(r.last) < time.Second {
		r.skipped++
		return
	}
	if r.skipped > 0 {
		format += fmt.Sprintf(" (and %d more like it in the last second)", r.skipped)
	}
	lg.Printf(format, args...)
	r.last = now
	r.skipped = 0
}

// add starts serving an accepted socket: it waits for its first request.
func (l *Loop) add(fd int, now time.Time) {
	var c *Conn
	if n := len(l.free); n > 0 {
		c = l.free[n-1]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
	} else {
		c = &Conn{sess: l.opt.Site.NewSession(), slot: -1}
	}
	c.fd = fd
	c.step = httpcore.NeedInput
	c.eof, c.lingering = false, false
	c.reqDue = time.Time{}
	c.idleDue = after(now, l.opt.Limits.Idle)
	c.want = 0
	for fd >= len(l.byFD) {
		l.byFD = append(l.byFD, nil)
	}
	l.byFD[fd] = c
	c.index = len(l.conns)
	l.conns = append(l.conns, c)
	c.due = c.idleDue
	l.set(c, WantRead)
}

// Handle gives c its turn after the readiness mechanism reported r for it
// (0 when its timer is due). It closes c when it is finished.
// A connection closed earlier in the same turn is left alone.
func (l *Loop) Handle(c *Conn, now time.Time, r Ready) {
	if c.want == WantClose {
		return
	}
	w := WantClose
	if r&Hangup == 0 {
		w = c.run(now, r&Readable != 0, &l.opt.Limits)
	}
	if l.draining && w == WantRead && !c.lingering && c.sess.Idle() {
		w = WantClose // its last response is written; no new requests now
	}
	l.set(c, w)
}

// set records c's new Want, files its deadline and tells Watch.
func (l *Loop) set(c *Conn, w Want) {
	if w == WantClose {
		l.close(c)
		return
	}
	if !c.due.IsZero() && (c.slot < 0 || c.due.Before(c.at)) {
		l.timers.Set(c, c.due)
	}
	if old := c.want; w != old {
		c.want = w
		if l.opt.Watch != nil {
			if err := l.opt.Watch(c, old); err != nil {
				l.watchErrs.logf(l.opt.Log, time.Now(), "cannot watch fd %d: %v; closing the connection", c.fd, err)
				l.close(c)
			}
		}
	}
}

func (l *Loop) close(c *Conn) {
	l.timers.Remove(c)
	old := c.want
	c.want = WantClose
	if l.opt.Watch != nil {
		_ = l.opt.Watch(c, old) // closing the socket below is what counts
	}
	unix.Close(c.fd)
	l.opt.Stats.Closed()
	last := l.conns[len(l.conns)-1]
	l.conns[c.index] = last
	last.index = c.index
	l.conns[len(l.conns)-1] = nil
	l.conns = l.conns[:len(l.conns)-1]
	l.byFD[c.fd] = nil
	c.fd = -1
	c.sess.Reset()
	l.free = append(l.free, c)
}

// Expire acts on every deadline that has passed: a delayed response is
// resumed, a timed-out connection is closed.
func (l *Loop) Expire(now time.Time) {
	for {
		c, at, ok := l.timers.Peek()
		if !ok || at.After(now) {
			return
		}
		l.timers.Pop()
		switch {
		case c.due.IsZero():
			// No deadline any more.
		case c.due.After(now):
			l.timers.Set(c, c.due) // it moved later: file it where it is now
		case c.want == WantTimer:
			l.Handle(c, now, 0)
		default:
			l.close(c)
		}
	}
}

// Timeout is how long the loop may wait for readiness before a deadline
// needs it: the next timer, the end of an accept back-off, the end of the
// shutdown grace. Negative: no deadline, wait for readiness alone.
func (l *Loop) Timeout(now time.Time) time.Duration {
	var next time.Time
	if _, at, ok := l.timers.Peek(); ok {
		next = at
	}
	if !l.draining && now.Before(l.pausedUntil) && (next.IsZero() || l.pausedUntil.Before(next)) {
		next = l.pausedUntil
	}
	if l.draining && (next.IsZero() || l.drainDue.Before(next)) {
		next = l.drainDue
	}
	if next.IsZero() {
		return -1
	}
	if d := next.Sub(now); d > 0 {
		return d
	}
	return 0
}

// TimeoutMillis is Timeout for epoll_wait(2) and poll(2): rounded up, so
// that the loop does not wake a little early and spin until the deadline.
func (l *Loop) TimeoutMillis(now time.Time) int {
	d := l.Timeout(now)
	if d < 0 {
		return -1
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// Shutdown begins draining: no more accepts, idle connections are closed
// now, busy ones when their response is written or the grace is over.
func (l *Loop) Shutdown(now time.Time) {
	if l.draining {
		return
	}
	l.draining = true
	l.drainDue = now.Add(l.opt.ShutdownTimeout)
	// Backwards, because closing moves the last connection into the slot.
	for i := len(l.conns) - 1; i >= 0; i-- {
		if c := l.conns[i]; c.want == WantRead && !c.lingering && c.sess.Idle() {
			l.close(c)
		}
	}
}

// Finished reports whether the loop should return: shutdown has begun and
// every connection is closed, or the grace is over (then it closes the
// rest).
func (l *Loop) Finished(now time.Time) bool {
	if !l.draining {
		return false
	}
	if len(l.conns) > 0 && now.Before(l.drainDue) {
		return false
	}
	l.CloseAll()
	return true
}

// CloseAll closes every connection.
func (l *Loop) CloseAll() {
	for len(l.conns) > 0 {
		l.close(l.conns[len(l.conns)-1])
	}
}
