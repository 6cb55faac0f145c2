// Package launch starts the lab's processes and waits until each is ready,
// the one way every test and lab/runner do it: bin/target, a Locust
// master (the pinned 2.47.0 or Debian's 2.12.1), and a worker (bin/boomer
// or Locust's own). Run starts a process and reads its output line by
// line; Await waits for Signs that it is ready.
//
// It owns the lines by which the project's own binaries say they are
// ready. bin/target, on stdout:
//
//	admin on ADDR                          (only with --admin-addr, first)
//	listening on ADDR (model M, pid P)     (last: the target is ready)
//
// A target writes nothing else on stdout before its ready line, so any
// other line there is an error, not noise to skip. bin/boomer, in its log
// once a master has taken it in: msg="master acknowledged this worker"
// (WorkerReady). Locust's processes have no such line of their own: a
// master is ready when its port or its web UI answers, and a worker, Go
// or Python, once the master's log counts it (WorkersConnected).
package launch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Ready is what a target said by the time it was ready.
type Ready struct {
	Addr  string // the site's address, host:port
	Admin string // the admin endpoint's address; "" without --admin-addr
	Model string
	Pid   int
}

const adminPrefix = "admin on "

// ReadyLine is the line a target prints once it accepts connections.
func ReadyLine(addr, model string, pid int) string {
	return fmt.Sprintf("listening on %s (model %s, pid %d)", addr, model, pid)
}

// WorkerReady is the message bin/boomer logs once a master has
// acknowledged it: from then on the master counts it.
const WorkerReady = "master acknowledged this worker"

// AdminLine is the line a target prints once its admin endpoint listens,
// before its ready line.
func AdminLine(addr string) string { return adminPrefix + addr }

// Announces reports whether line is one of the target's own lines (or
// claims to be), for a reader that gets its stderr log on the same pipe.
func Announces(line string) bool {
	return strings.HasPrefix(line, adminPrefix) || strings.HasPrefix(line, "listening on ")
}

var readyRE = regexp.MustCompile(`^listening on (\S+) \(model (\S+), pid (\d+)\)$`)

// Errors a wait ends with; the returned error wraps one of them.
var (
	ErrExited   = errors.New("exited before it was ready")
	ErrTimeout  = errors.New("not ready in time")
	ErrBadLine  = errors.New("printed a line that is not `admin on ADDR` or `listening on ADDR (model M, pid P)`")
	ErrNotReady = errors.New("no ready line") // the output ended without one
)

// Watch follows a target's stdout, one line at a time, until its ready
// line. It is safe to feed from one goroutine and wait on from another.
type Watch struct {
	mu    sync.Mutex
	ready Ready
	err   error
	done  chan struct{}
	once  sync.Once
}

// NewWatch is a Watch that has seen no line yet.
func NewWatch() *Watch { return &Watch{done: make(chan struct{})} }

// Line feeds one line of the target's stdout (without its newline); lines
// after the ready line are ignored.
func (w *Watch) Line(line string) {
	select {
	case <-w.done:
		return
	default:
	}
	line = strings.TrimRight(line, "\r")
	if a, ok := strings.CutPrefix(line, adminPrefix); ok {
		w.mu.Lock()
		w.ready.Admin = a
		w.mu.Unlock()
		return
	}
	m := readyRE.FindStringSubmatch(line)
	if m == nil {
		w.finish(fmt.Errorf("%w: %q", ErrBadLine, line))
		return
	}
	pid, _ := strconv.Atoi(m[3]) // \d+ from the line; too large only if the line lies
	w.mu.Lock()
	w.ready.Addr, w.ready.Model, w.ready.Pid = m[1], m[2], pid
	w.mu.Unlock()
	w.finish(nil)
}

// End says the output ended; a Watch not yet ready then fails.
func (w *Watch) End() { w.finish(ErrNotReady) }

func (w *Watch) finish(err error) {
	w.once.Do(func() {
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
		close(w.done)
	})
}

// Wait waits for the ready line, at most timeout, and fails early when
// exited is closed (the process ended) or ctx is done.
func (w *Watch) Wait(ctx context.Context, exited <-chan struct{}, timeout time.Duration) (Ready, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.done:
	case <-exited:
		// The last lines may still be on their way through the pipe.
		select {
		case <-w.done:
		case <-time.After(time.Second):
			return Ready{}, ErrExited
		}
	case <-t.C:
		return Ready{}, fmt.Errorf("%w: nothing after %v", ErrTimeout, timeout)
	case <-ctx.Done():
		return Ready{}, ctx.Err()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if errors.Is(w.err, ErrNotReady) {
		return Ready{}, ErrExited
	}
	return w.ready, w.err
}

// Feed scans r into w line by line, then drains r so the writer never
// blocks, and ends w; each line also goes to each, if not nil.
func Feed(w *Watch, r io.Reader, each func(string)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if each != nil {
			each(sc.Text())
		}
		w.Line(sc.Text())
	}
	io.Copy(io.Discard, r)
	w.End()
}
