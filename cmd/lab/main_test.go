package main

import (
	"os"
	"testing"

	"serverlab/internal/testbin"
)

// The end-to-end runs mostly wait on their run times and Locust's
// clocks: three at a time.
func TestMain(m *testing.M) { os.Exit(testbin.MainParallel(m, 3)) }
