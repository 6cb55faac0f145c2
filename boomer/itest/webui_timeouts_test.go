package itest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"serverlab/internal/launch"
	"serverlab/internal/testbin"
)

// The web UI's start form has both timeouts, on both Locust versions, and
// what is typed there reaches the Go worker: against a silent server its
// failures name the form's response timeout.
func TestWebUIFormSetsTimeouts(t *testing.T) {
	t.Parallel()
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			waiting.Join(t)
			l := testbin.Locust(t, v.find)
			silent := serveMisbehaving(t, "silent")
			port, webPort := testbin.FreePort(t), testbin.FreePort(t)
			master := startMaster(t, "web master", l, port, "--web-host", "127.0.0.1", "--web-port", strconv.Itoa(webPort))
			startWorker(t, port)
			web := fmt.Sprintf("http://127.0.0.1:%d", webPort)
			master.Await(t, 30*time.Second, launch.Answers(web+"/"), launch.WorkersConnected(1))
			res, err := http.Get(web + "/")
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(res.Body)
			res.Body.Close()
			for _, field := range []string{"connect_timeout", "response_timeout"} {
				if !strings.Contains(string(page), field) {
					t.Errorf("the web UI's page has no %s field", field)
				}
			}
			testbin.PostForm(t, web+"/swarm", url.Values{"user_count": {"1"}, "spawn_rate": {"1"}, "host": {silent},
				"connect_timeout": {"0.3"}, "response_timeout": {"0.3"}})
			testbin.Eventually(t, 30*time.Second, "a response timeout of 0.3 s among the failures", func() (bool, string) {
				r, err := getStats(web)
				if err != nil {
					return false, err.Error()
				}
				return strings.Contains(fmt.Sprint(r.Errors), "read timeout=0.3)"), fmt.Sprint(r.Errors)
			})
		})
	}
}
