package sidebyside

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"serverlab/internal/testbin"
)

// splitClasses are two weighted classes and one with a fixed count.
const splitClasses = `

class AUser(DeclaredUser):
    weight = 2
    wait_time = constant(1)
    tasks = [Task(get("/", name="a"))]


class BUser(DeclaredUser):
    wait_time = constant(1)
    tasks = [Task(get("/", name="b"))]


class CUser(DeclaredUser):
    fixed_count = 1
    wait_time = constant(1)
    tasks = [Task(get("/", name="c"))]
`

// settled is the master's latest sample once the last three agree and
// count users, with the test running: its workers' reports are in.
func (s *side) settled(users int) (sample, bool, string) {
	smps := s.samples()
	if len(smps) < 3 {
		return sample{}, false, "no samples yet"
	}
	last := smps[len(smps)-1]
	for _, smp := range smps[len(smps)-3:] {
		if smp.State != "running" || smp.users() != users || smp.split() != last.split() {
			return sample{}, false, fmt.Sprintf("%s: %s", last.State, last.split())
		}
	}
	return last, true, ""
}

// Two workers share the users as the master splits them, and follow
// the user count changed while the test runs (the web UI's new swarm,
// up and down): after each change the master counts, with Go workers as
// with Python workers, the same users per class (weights 2:1, one of the
// fixed-count class) and on each worker the same share.
func TestUsersSplitOverWorkers(t *testing.T) {
	target := startTarget(t)
	sides := run{classes: splitClasses, workers: 2, web: true}.start(t, target)
	steps := []struct {
		users int
		want  string
	}{
		{7, "AUser=4 BUser=2 CUser=1"},
		{10, "AUser=6 BUser=3 CUser=1"},
		{4, "AUser=2 BUser=1 CUser=1"},
	}
	for i, step := range steps {
		for _, s := range sides {
			testbin.PostForm(t, s.web+"/swarm", url.Values{"user_count": {strconv.Itoa(step.users)},
				"spawn_rate": {"100"}, "host": {target}})
		}
		got := map[*side]sample{}
		for _, s := range sides {
			testbin.Eventually(t, 60*time.Second, fmt.Sprintf("%s to count %d users", s.name, step.users), func() (bool, string) {
				smp, ok, seen := s.settled(step.users)
				got[s] = smp
				return ok, seen
			})
			t.Logf("step %d, %s: %s", i+1, s.name, got[s].split())
		}
		for _, p := range pairs(sides) {
			py, gw := got[p[0]], got[p[1]]
			if py.classes() != step.want {
				t.Errorf("step %d, %s: the master counted %s, want %s", i+1, p[0].name, py.classes(), step.want)
			}
			if gw.classes() != py.classes() || gw.split() != py.split() {
				t.Errorf("step %d, %s: the workers have %s; Python workers %s", i+1, p[1].name, gw.split(), py.split())
			}
		}
	}
}
