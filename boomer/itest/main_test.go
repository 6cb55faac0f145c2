package itest

import (
	"os"
	"testing"

	"serverlab/internal/testbin"
)

// Three tests at a time: most of their time is Locust's clocks (run
// times, heartbeats, the worker's timeouts), not CPU. Not parallel with
// the rest: the tests with Python workers (starved of CPU, a Python worker
// misses its heartbeats, or its reports come too late) and the lost-stats
// runs, whose 200 failing users each keep a core busy.
func TestMain(m *testing.M) { os.Exit(testbin.Main(m, 3)) }
