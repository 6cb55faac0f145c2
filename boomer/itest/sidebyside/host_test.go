package sidebyside

import (
	"fmt"
	"testing"
	"time"

	"serverlab/internal/testbin"
)

// hostClass is a class with a host of its own.
const hostClass = `

class OwnHostUser(DeclaredUser):
    host = %q
    wait_time = constant(0.2)
    tasks = [Task(get("/", name="own"))]
`

// A declared class's own host reaches Go workers: a run without a host
// sends its users there, and a run with one (here where nothing listens)
// sends them to the run's host instead, as Locust gives every class the
// run's host.
func TestClassHost(t *testing.T) {
	t.Parallel() // light: one worker a side, a few requests a second
	target := startTarget(t)
	classes := fmt.Sprintf(hostClass, target)
	master := autostarted("-u", "2", "-r", "2", "-t", "2s")
	own := run{classes: classes, workers: 1, master: master, only: "pinned"}.start(t, "")
	runs := run{classes: classes, workers: 1, master: master, only: "pinned"}.start(t, "http://"+testbin.RefusedAddr(t))
	for _, s := range append(own, runs...) {
		s.master.Wait(t, 120*time.Second)
	}
	for _, s := range own {
		if rows := s.rows(t); rows["own"][0] == 0 || rows["own"][1] != 0 {
			t.Errorf("%s, no run host: %s; want the class's host to answer every request", s.name, describeRows(rows))
		}
	}
	for _, s := range runs {
		if rows := s.rows(t); rows["own"][0] == 0 || rows["own"][1] != rows["own"][0] {
			t.Errorf("%s, a run host where nothing listens: %s; want every request sent there, and failed", s.name, describeRows(rows))
		}
	}
}
