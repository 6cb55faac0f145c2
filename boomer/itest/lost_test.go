package itest

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"serverlab/internal/testbin"
)

// totalsLine is what bin/boomer logs when a test ends: its own count.
var totalsLine = regexp.MustCompile(`msg="test totals" why=quit requests=(\d+) failures=(\d+)`)

// runsInARow is how many consecutive runs on each version must each keep
// every count: 5 in make test, 20 with LOST_STATS=full (make
// test-extended). A run takes about ten seconds.
func runsInARow() int {
	if os.Getenv("LOST_STATS") == "full" {
		return 20
	}
	return 5
}

// A worker out of descriptors, its 200 users failing at once and in a
// tight loop: every run, on both Locust versions, must end with the
// master's totals equal to what the worker counted, the failures
// included. The first run that loses anything fails the test; there are
// no retries.
//
// The master stops the test before it quits (stopFirst): a headless
// master that says quit counts only the reports it reads within the next
// half second of its own time, and on a busy machine it read none, though
// the worker's report had left 24 ms after the quit came in and 250 ms
// before the master gave up. That measures the master's scheduling, not
// what the worker loses; the worker's quit report leaving at once is
// TestQuitReportsBeforeWaitingForUsers'.
func TestWorkerOutOfFDsLosesNoStats(t *testing.T) {
	t.Parallel()
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			busy.Join(t)
			l := testbin.Locust(t, v.find)
			target, _ := startModel(t, "goroutine")
			runs := runsInARow()
			for i := 1; i <= runs; i++ {
				r := run{locust: l, host: target, users: 200, runTime: "3s", class: "HammerUser", fds: 64,
					goArgs: []string{"--loglevel", "DEBUG"}, stopFirst: true}.do(t)
				if msg := lostStats(t, r); msg != "" {
					t.Fatalf("run %d of %d: %s\nstats:\n%s\nfailures:\n%s", i, runs, msg,
						csvText(t, r.prefix+"_stats.csv"), csvText(t, r.prefix+"_failures.csv"))
				}
			}
		})
	}
}

// lostStats compares a run's CSVs with the worker's own totals; it says
// what differs, or "" when nothing was lost.
func lostStats(t *testing.T, r ran) string {
	t.Helper()
	m := totalsLine.FindStringSubmatch(r.worker.Out.String())
	if m == nil {
		return "the worker logged no totals"
	}
	wantReq, _ := strconv.Atoi(m[1])
	wantFail, _ := strconv.Atoi(m[2])
	if wantFail == 0 {
		return "the worker counted no failures: it did not run out of descriptors"
	}
	gotReq, gotFail := aggregated(t, r.prefix)
	if gotReq != wantReq || gotFail != wantFail {
		return fmt.Sprintf("the master has %d requests and %d failures, the worker counted %d and %d",
			gotReq, gotFail, wantReq, wantFail)
	}
	fdFails, all := 0, 0
	for _, f := range failures(t, r.prefix) {
		all += f.occurrences
		if strings.Contains(f.err, "OSError(24, 'Too many open files')") {
			fdFails += f.occurrences
		}
	}
	if fdFails == 0 {
		return "no OSError(24, 'Too many open files') in the failures CSV"
	}
	if all != wantFail {
		return fmt.Sprintf("the failures CSV adds up to %d, the worker counted %d failures", all, wantFail)
	}
	return ""
}
