package sidebyside

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"serverlab/internal/testbin"
)

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
	target := startTarget(t)
	sides := run{classes: resetClasses, workers: 1, web: true, master: []string{"--reset-stats"},
		pyWorker: []string{"--reset-stats"}}.start(t, target)
	for _, s := range sides {
		testbin.PostForm(t, s.web+"/swarm", url.Values{"user_count": {"4"}, "spawn_rate": {"2"}, "host": {target}})
	}
	// The master says running once it has reset its stats; a report of
	// what came before it that had not left yet would come within a
	// report interval (3 s).
	for _, s := range sides {
		testbin.Eventually(t, 60*time.Second, s.name+" to count pages after the ramp-up", func() (bool, string) {
			state, rows, err := s.webRows()
			return err == nil && state == "running" && rows["page"][0] > 0, fmt.Sprint(state, describeRows(rows), err)
		})
	}
	time.Sleep(4 * time.Second)
	for _, s := range sides {
		_, rows, err := s.webRows()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		t.Logf("%s: %s", s.name, describeRows(rows))
		if start := rows["start"]; !s.python && start[0] > 2 || start[1] != 0 {
			t.Errorf("%s: %d on_start requests counted (%d failed); the reset leaves at most 2", s.name, start[0], start[1])
		}
		if page := rows["page"]; page[0] == 0 || page[1] != 0 {
			t.Errorf("%s: %d pages counted after the reset, %d failed", s.name, page[0], page[1])
		}
	}
}
