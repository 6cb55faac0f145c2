package runner

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Live is the latest aggregate a running master reported.
type Live struct {
	Requests, Failures int64
	RPS, FailRPS       float64
	Users              int
	Seen               bool
}

// liveStats collects Live from the master's console table (both versions
// print it every 2 s while headless).
type liveStats struct {
	mu   sync.Mutex
	last Live
	// missing counts the workers the master declared missing (no
	// heartbeat in time); allMissing: the last one went, and the master
	// stopped the test for it.
	missing    int
	allMissing bool
}

// Locust's master logs these (2.12.1 and 2.47.0 alike) when a worker's
// heartbeats stop coming in time, and when that was its last worker.
const (
	workerMissingLine     = "failed to send heartbeat, setting state to missing"
	lastWorkerMissingLine = "The last worker went missing, stopping test"
)

// lost says how many workers the master gave up on, and whether that
// ended the test.
func (l *liveStats) lost() (missing int, ended bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.missing, l.allMissing
}

func (l *liveStats) get() Live {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// onLine is the master's stdout hook.
func (l *liveStats) onLine(line string) {
	switch {
	case strings.Contains(line, workerMissingLine):
		l.mu.Lock()
		l.missing++
		l.mu.Unlock()
		return
	case strings.Contains(line, lastWorkerMissingLine):
		l.mu.Lock()
		l.allMissing = true
		l.mu.Unlock()
		return
	}
	if v, ok := parseConsoleAggregated(line); ok {
		l.mu.Lock()
		v.Users = l.last.Users
		l.last = v
		l.mu.Unlock()
	}
}

// parseConsoleAggregated reads the "Aggregated" row of Locust's console
// table: `Aggregated  REQS  FAILS(PCT%) | avg min max med | RPS FAILRPS`.
// The end-of-run percentile table also has an Aggregated row, without bars.
func parseConsoleAggregated(line string) (Live, bool) {
	first, rest, ok := strings.Cut(line, "|")
	if !ok {
		return Live{}, false
	}
	f := strings.Fields(first)
	i := len(f) - 3
	if i < 0 || f[i] != "Aggregated" {
		return Live{}, false
	}
	reqs, err1 := strconv.ParseInt(f[i+1], 10, 64)
	failStr, _, _ := strings.Cut(f[i+2], "(")
	fails, err2 := strconv.ParseInt(failStr, 10, 64)
	k := strings.LastIndex(rest, "|")
	if k < 0 {
		return Live{}, false
	}
	g := strings.Fields(rest[k+1:])
	if len(g) != 2 || err1 != nil || err2 != nil {
		return Live{}, false
	}
	rps, err3 := strconv.ParseFloat(g[0], 64)
	frps, err4 := strconv.ParseFloat(g[1], 64)
	if err3 != nil || err4 != nil {
		return Live{}, false
	}
	return Live{Requests: reqs, Failures: fails, RPS: rps, FailRPS: frps, Seen: true}, true
}

// progress writes one status line per update: rewritten in place on a
// terminal, appended otherwise (logs, CI).
type progress struct {
	w     io.Writer
	tty   bool
	width int
}

func (p *progress) update(s string) {
	if p.tty {
		pad := ""
		if n := p.width - len(s); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(p.w, "\r%s%s", s, pad)
		p.width = len(s)
		return
	}
	fmt.Fprintln(p.w, s)
}

// end finishes a status line rewritten in place.
func (p *progress) end() {
	if p.tty && p.width > 0 {
		fmt.Fprint(p.w, "\n")
		p.width = 0
	}
}

// line prints a message of its own, after any status line.
func (p *progress) line(format string, args ...any) {
	if p.tty && p.width > 0 {
		fmt.Fprint(p.w, "\n")
		p.width = 0
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

func statusLine(i, n int, model string, elapsed, runTime, total, totalPlan time.Duration, v Live) string {
	s := fmt.Sprintf("[%d/%d] %-10s %s/%s (all %s/%s)", i, n, model,
		clock(elapsed), clock(runTime), clock(total), clock(totalPlan))
	if !v.Seen || v.Requests == 0 {
		return s + "  starting: waiting for workers and first requests"
	}
	pct := 0.0
	if v.Requests > 0 {
		pct = 100 * float64(v.Failures) / float64(v.Requests)
	}
	return s + fmt.Sprintf("  %.1f req/s  %d requests  %d failures (%.2f%%)  %.1f fail/s",
		v.RPS, v.Requests, v.Failures, pct, v.FailRPS)
}

func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
