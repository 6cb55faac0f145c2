package itest

import (
	"runtime"

	"serverlab/internal/testbin"
)

// The package's tests run side by side far past GOMAXPROCS (TestMain),
// each after taking a place in the queue of its kind.
var (
	// busy is for tests whose processes keep a core busy: Python
	// workers running HammerUsers, 200 users failing in a tight loop. As
	// many at once as the machine has cores, or a starved Python worker
	// misses its heartbeats and its master gives up on it.
	busy = testbin.NewQueue(runtime.NumCPU())
	// waiting is for tests that mostly wait on Locust's clocks: Go
	// workers at light load, one user against a failing server, a
	// master-gone timeout. Their processes sleep most of the time.
	waiting = testbin.NewQueue(3)
)
