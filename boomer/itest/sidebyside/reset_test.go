package sidebyside

import "testing"

// resetClasses make one request when each user starts, during the
// ramp-up, and then pages.
const resetClasses = `

class ResetUser(DeclaredUser):
    wait_time = constant(0.2)
    on_start_requests = [get("/app.js", name="start")]
    tasks = [Task(get("/", name="page"))]
`

// --reset-stats: the master forgets what was counted during the ramp-up
// (4 users, 2 a second), so of the 4 users' on_start requests at most
// the last step's 2, made at the moment of the reset, are left on a Go
// worker, and the pages after it are counted. Go workers take the option
// from the master. Python workers need it themselves (Locust's
// documentation says so), and even then what they count depends on when
// their reports leave: on a busy machine a report of the ramp-up may
// reach the master after its reset, so theirs are only logged.
func TestResetStats(t *testing.T) {
	t.Parallel() // light: one worker a side, a few requests a second
	target := startTarget(t)
	sides := run{classes: resetClasses, workers: 1,
		master:   autostarted("-u", "4", "-r", "2", "-t", "4s", "--reset-stats"),
		pyWorker: []string{"--reset-stats"}}.start(t, target)
	waitAll(t, sides)
	for _, s := range sides {
		rows := s.rows(t)
		t.Logf("%s: %s", s.name, describeRows(rows))
		if start := rows["start"]; !s.python && start[0] > 2 || start[1] != 0 {
			t.Errorf("%s: %d on_start requests counted (%d failed); the reset leaves at most 2", s.name, start[0], start[1])
		}
		if page := rows["page"]; page[0] == 0 || page[1] != 0 {
			t.Errorf("%s: %d pages counted after the reset, %d failed", s.name, page[0], page[1])
		}
	}
}
