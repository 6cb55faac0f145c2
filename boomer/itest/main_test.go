package itest

import (
	"os"
	"testing"

	"serverlab/internal/testbin"
)

// The busy and waiting queues bound how many tests run at once; -parallel
// only has to be above their sum plus the tests waiting for them.
func TestMain(m *testing.M) { os.Exit(testbin.MainParallel(m, 64)) }
