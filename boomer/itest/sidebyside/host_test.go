package sidebyside

import (
	"fmt"
	"net/url"
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
	target := startTarget(t)
	classes := fmt.Sprintf(hostClass, target)
	cases := map[string]struct {
		host   string // the run's
		failed bool   // every request, or none
	}{
		"no run host":                      {"", false},
		"a run host where nothing listens": {"http://" + testbin.RefusedAddr(t), true},
	}
	sides := map[string][]*side{}
	for name, c := range cases {
		sides[name] = run{classes: classes, workers: 1, web: true, only: "pinned"}.start(t, "")
		for _, s := range sides[name] {
			testbin.PostForm(t, s.web+"/swarm", url.Values{"user_count": {"2"}, "spawn_rate": {"100"}, "host": {c.host}})
		}
	}
	for name, c := range cases {
		for _, s := range sides[name] {
			testbin.Eventually(t, 60*time.Second, s.name+", "+name+": 10 requests", func() (bool, string) {
				_, rows, err := s.webRows()
				return err == nil && rows["own"][0] >= 10, fmt.Sprint(describeRows(rows), err)
			})
			_, rows, err := s.webRows()
			if err != nil {
				t.Fatal(err)
			}
			if own := rows["own"]; (own[1] == own[0]) != c.failed || (own[1] == 0) == c.failed || len(rows) != 1 {
				t.Errorf("%s, %s: %s; want every request %s", s.name, name, describeRows(rows),
					map[bool]string{false: "answered by the class's host", true: "sent to the run's, and failed"}[c.failed])
			}
		}
	}
}
