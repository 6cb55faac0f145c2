package sidebyside

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"serverlab/internal/testbin"
)

// stopperClass is a user that makes its page once and then waits longer
// than the test: the stop finds it waiting.
const stopperClass = `

class StopperUser(DeclaredUser):
    wait_time = constant(600)
    on_stop_requests = [get("/", name="goodbye")]
    tasks = [Task(get("/", name="page"))]
`

// The test stopped (the web UI's Stop, no stop timeout) while the users
// wait between tasks: each makes its on_stop_requests, counted, on Go
// workers as on Python workers.
func TestOnStopRequestsOfWaitingUsers(t *testing.T) {
	target := startTarget(t)
	sides := run{classes: stopperClass, workers: 1, web: true}.start(t, target)
	for _, s := range sides {
		testbin.PostForm(t, s.web+"/swarm", url.Values{"user_count": {"2"}, "spawn_rate": {"100"}, "host": {target}})
	}
	for _, s := range sides {
		testbin.Eventually(t, 60*time.Second, s.name+" to count both users' page", func() (bool, string) {
			_, rows, err := s.webRows()
			return err == nil && rows["page"][0] == 2, fmt.Sprint(describeRows(rows), err)
		})
	}
	stopAll(t, sides)
	for _, s := range sides {
		testbin.Eventually(t, 60*time.Second, s.name+" to count both users' goodbye", func() (bool, string) {
			state, rows, err := s.webRows()
			return err == nil && state == "stopped" && rows["goodbye"] == [2]int{2, 0}, fmt.Sprint(state, " ", describeRows(rows), err)
		})
	}
}
