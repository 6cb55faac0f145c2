package reactor

import (
	"runtime"
	"testing"

	"serverlab/internal/nbtest"
)

func TestMain(m *testing.M) { nbtest.Main(m, Model) }

func TestServes(t *testing.T) { nbtest.Suite(t, "--workers", "3") }

func TestOneLoopPerCoreByDefault(t *testing.T) {
	if n := Model.DefaultWorkers(); n != runtime.NumCPU() {
		t.Fatalf("DefaultWorkers() = %d, want NumCPU %d", n, runtime.NumCPU())
	}
}
