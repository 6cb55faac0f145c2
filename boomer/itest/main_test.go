package itest

import (
	"os"
	"testing"

	"serverlab/internal/testbin"
)

// Four tests at a time: most of their time is Locust's clocks (run times,
// heartbeats, the worker's timeouts), not CPU. The tests with Python
// workers under load are not parallel: starved of CPU, a Python worker
// misses its heartbeats and its master gives up on it.
func TestMain(m *testing.M) { os.Exit(testbin.Main(m, 4)) }
