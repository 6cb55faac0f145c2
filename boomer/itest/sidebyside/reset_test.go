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
// the last step's 2, made at the moment of the reset, are left, and the
// pages after it are counted. Python workers need the option themselves
// (Locust's documentation says so; without it they send what they had
// not reported yet); Go workers take it from the master.
func TestResetStats(t *testing.T) {
	t.Parallel() // light: one worker a side, a few requests a second
	target := startTarget(t)
	sides := run{classes: resetClasses, workers: 1,
		master:   []string{"--headless", "-u", "4", "-r", "2", "-t", "3s", "--reset-stats"},
		pyWorker: []string{"--reset-stats"}}.start(t, target)
	waitAll(t, sides)
	for _, s := range sides {
		rows := s.rows(t)
		t.Logf("%s: %s", s.name, describeRows(rows))
		if start := rows["start"]; start[0] > 2 || start[1] != 0 {
			t.Errorf("%s: %d on_start requests counted (%d failed); the reset leaves at most 2", s.name, start[0], start[1])
		}
		if page := rows["page"]; page[0] == 0 || page[1] != 0 {
			t.Errorf("%s: %d pages counted after the reset, %d failed", s.name, page[0], page[1])
		}
	}
}
