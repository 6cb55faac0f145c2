package sidebyside

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"serverlab/internal/testbin"
)

// stopClasses are two users that say when they start and are then always
// in a request: one of 2.5 s, one of 9.5 s.
const stopClasses = `

class FinishUser(DeclaredUser):
    wait_time = constant(0)
    on_start_requests = [get("/", name="begin")]
    tasks = [Task(get("/delay?ms=2500", name="finish"))]


class InterruptUser(DeclaredUser):
    wait_time = constant(0)
    on_start_requests = [get("/", name="begin")]
    tasks = [Task(get("/delay?ms=9500", name="interrupt"))]
`

// webRows reads the web UI's state and stats rows (GET /stats/requests).
func (s *side) webRows() (state string, rows map[string][2]int, err error) {
	res, err := http.Get(s.web + "/stats/requests")
	if err != nil {
		return "", nil, err
	}
	defer res.Body.Close()
	var r struct {
		State string `json:"state"`
		Stats []struct {
			Name        string `json:"name"`
			NumRequests int    `json:"num_requests"`
			NumFailures int    `json:"num_failures"`
		} `json:"stats"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return "", nil, err
	}
	rows = map[string][2]int{}
	for _, st := range r.Stats {
		if st.Name != "Aggregated" {
			rows[st.Name] = [2]int{st.NumRequests, st.NumFailures}
		}
	}
	return r.State, rows, nil
}

// stopAll presses every side's Stop at once (a master answers once its
// workers have stopped): a POST on 2.47.0, a GET on 2.12.1.
func stopAll(t *testing.T, sides []*side) {
	t.Helper()
	errs := make([]error, len(sides))
	var wg sync.WaitGroup
	for i, s := range sides {
		wg.Go(func() {
			var res *http.Response
			var err error
			if s.version == "debian" {
				res, err = http.Get(s.web + "/stop")
			} else {
				res, err = http.PostForm(s.web+"/stop", url.Values{})
			}
			if err == nil {
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					err = fmt.Errorf("%s", res.Status)
				}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: stop: %v", sides[i].name, err)
		}
	}
}

// --stop-timeout 3: when the test stops, as soon as both users are in
// their first task, the task in progress may finish for 3 s more. The
// 2.5 s request ends within them and is counted, a success; the 9.5 s
// one is interrupted when they are over and counted nowhere, neither a
// success nor a failure, on Go workers as on Python workers.
func TestStopTimeout(t *testing.T) {
	target := startTarget(t)
	sides := run{classes: stopClasses, workers: 1, web: true, master: []string{"--stop-timeout", "3"}}.start(t, target)
	for _, s := range sides {
		testbin.PostForm(t, s.web+"/swarm", url.Values{"user_count": {"2"}, "spawn_rate": {"100"}, "host": {target}})
	}
	swarmed := time.Now()
	for _, s := range sides {
		testbin.Eventually(t, 60*time.Second, s.name+" to count both users' on_start", func() (bool, string) {
			_, rows, err := s.webRows()
			return err == nil && rows["begin"][0] == 2, fmt.Sprint(describeRows(rows), err)
		})
	}
	stopAll(t, sides)
	for _, s := range sides {
		testbin.Eventually(t, 60*time.Second, s.name+" to stop", func() (bool, string) {
			state, _, err := s.webRows()
			return err == nil && state == "stopped", fmt.Sprint(state, err)
		})
	}
	// Had the 9.5 s request not been interrupted, its end would have been
	// reported by now.
	time.Sleep(time.Until(swarmed.Add(14 * time.Second)))
	for _, s := range sides {
		_, rows, err := s.webRows()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		t.Logf("%s: %s", s.name, describeRows(rows))
		if finish := rows["finish"]; finish[0] == 0 || finish[1] != 0 {
			t.Errorf("%s: the task the stop let finish: %d requests counted, %d failed; want it counted, a success", s.name, finish[0], finish[1])
		}
		if interrupt := rows["interrupt"]; interrupt != [2]int{} {
			t.Errorf("%s: the task the stop interrupted: %d requests counted, %d failed; want none", s.name, interrupt[0], interrupt[1])
		}
	}
}
