package sidebyside

import (
	"fmt"
	"testing"
)

// shapeClasses are two classes and a LoadTestShape of three stages of 3 s,
// each with its user count and classes.
const shapeClasses = `

class AUser(DeclaredUser):
    weight = 2
    wait_time = constant(0.5)
    tasks = [Task(get("/", name="a"))]


class BUser(DeclaredUser):
    wait_time = constant(0.5)
    tasks = [Task(get("/", name="b"))]


# (until, users, classes)
STAGES = [(3, 3, [AUser]), (6, 6, [AUser, BUser]), (9, 2, [BUser])]


class Stages(LoadTestShape):
    def tick(self):
        run_time = self.get_run_time()
        for i, (until, users, classes) in enumerate(STAGES):
            if run_time < until:
                enter(i)
                return users, 100, classes
        enter(len(STAGES))
        return None
`

// settle is how long a stage has been in force before the master's
// counts are read: the spawn has reached the workers and their reports
// the master.
const settle = 1.0

// A LoadTestShape's stages reach Go workers as they reach Python workers:
// at the end of each stage the master counts the users per class the
// stage asks for, as Locust's master splits them, and the run ends when
// the shape does. The master keeps the users running and adds or stops
// users in its weighted order, whatever classes the stage names: 3
// AUsers, then 5 and a BUser (not 4 and 2), then 2 AUsers (not the 2
// BUsers the stage names) on both versions; the workers run what it
// sends.
func TestLoadTestShape(t *testing.T) {
	target := startTarget(t)
	sides := run{classes: shapeClasses, workers: 1, master: []string{"--headless"}}.start(t, target)
	waitAll(t, sides)
	want := []string{"AUser=3", "AUser=5 BUser=1", "AUser=2"}
	stages := map[*side][]string{}
	for _, s := range sides {
		got := make([]string, len(want))
		for i := range want {
			var last *sample
			for _, smp := range s.samples() {
				if smp.Stage == i {
					last = &smp
				}
			}
			switch {
			case last == nil:
				got[i] = "no sample"
			case last.Since < settle:
				got[i] = fmt.Sprintf("a stage of %.1f s", last.Since)
			default:
				got[i] = last.classes()
			}
		}
		stages[s] = got
		t.Logf("%s: users per stage %q", s.name, got)
		rows := s.rows(t)
		if rows["a"][0] == 0 || rows["b"][0] == 0 || rows["a"][1]+rows["b"][1] != 0 || len(rows) != 2 {
			t.Errorf("%s: stats %s; want requests of a and b, none failed", s.name, describeRows(rows))
		}
	}
	for _, p := range pairs(sides) {
		py, gw := p[0], p[1]
		for i, w := range want {
			if stages[py][i] != w {
				t.Errorf("%s: stage %d: the master counted %s, want %s", py.name, i+1, stages[py][i], w)
			}
			if stages[gw][i] != stages[py][i] {
				t.Errorf("%s: stage %d: the master counted %s; with Python workers %s", gw.name, i+1, stages[gw][i], stages[py][i])
			}
		}
	}
}
