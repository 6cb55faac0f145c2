package testbin

import (
	"flag"
	"strconv"
	"testing"
)

// Queue bounds how many tests of one kind run at once. go test's
// -parallel counts tests, and defaults to GOMAXPROCS: right for tests
// that compute, far too few for tests that mostly wait on Locust's
// clocks (run times, heartbeats, timeouts). A package of such tests
// raises -parallel (MainParallel) and lets each test wait for a place in
// the queue of its kind, so that the tests that keep a core busy still
// run only as many at once as the machine has cores, while the waiting
// ones fill the time around them.
type Queue chan struct{}

// NewQueue is a queue that lets n tests through at once.
func NewQueue(n int) Queue { return make(Queue, max(n, 1)) }

// Join waits for a place and holds it until the test and its cleanups
// (the processes it started) are over. A test with parallel subtests
// must not hold a place its subtests need: only a test that runs its
// processes itself, or one after the other, joins a queue.
func (q Queue) Join(t testing.TB) {
	t.Helper()
	q <- struct{}{}
	t.Cleanup(func() { <-q })
}

// MainParallel is Main with -parallel n unless the command line sets it:
// for a package whose tests mostly wait, or wait for places in Queues
// (then n is above the queues' sum, so that tests waiting for one queue
// do not hold up those of another).
func MainParallel(m *testing.M, n int) int {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		flag.Set("test.parallel", strconv.Itoa(n))
	}
	return Main(m)
}
