// Package sidebyside runs the Locust features the master drives (a
// LoadTestShape, --reset-stats, --stop-timeout, the user count changed
// while running, users split over several workers) once with Python
// workers and once with Go workers (bin/boomer) on real masters, Locust
// 2.47.0 and Debian's 2.12.1, and compares what each master recorded.
//
// Each test runs all of its sides at once: the masters of both versions,
// one with Python workers and one with Go workers, each side on its own
// ports, against one bin/target. The tests themselves run one after
// another: on two cores, a Python worker starved of CPU for 3 s misses
// its heartbeats, and the master gives its users to the others.
package sidebyside

import (
	"os"
	"testing"

	"serverlab/internal/testbin"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
