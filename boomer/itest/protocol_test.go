package itest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// TestPythonAndGoWorkers runs the cases of the README's "Go and Python
// workers side by side", each with a Python worker and a Go worker on real
// masters. Their workers keep a core busy: the cases take turns in the
// busy queue.
func TestPythonAndGoWorkers(t *testing.T) {
	t.Parallel()
	t.Run("hosts", hostsAsPythonWorkers)
	t.Run("states", statesAsPythonWorkers)
	t.Run("class edit", classEditAsPythonWorkers)
	t.Run("new master", newMasterStopsOldUsers)
}

// webMaster starts a master with its web UI on free ports and returns the
// UI's URL and the workers' port.
func webMaster(t *testing.T, l locusts.Locust, more ...string) (web string, port int, master *proc) {
	t.Helper()
	port, webPort := testbin.FreePort(t), testbin.FreePort(t)
	master = start(t, "web master "+l.Version, l.Path, masterArgs(t, port, append([]string{
		"--web-host", "127.0.0.1", "--web-port", strconv.Itoa(webPort)}, more...)...)...)
	waitListening(t, port, master)
	return fmt.Sprintf("http://127.0.0.1:%d", webPort), port, master
}

// pythonWorker starts a Locust worker running locustfile.py.
func pythonWorker(t *testing.T, l locusts.Locust, port int, env ...string) *proc {
	t.Helper()
	return testbin.Start(t, "python worker", env, l.Path, "-f", filepath.Join(testbin.Root(t), "locustfile.py"),
		"--worker", "--master-host", "127.0.0.1", "--master-port", strconv.Itoa(port))
}

// workerStates maps each worker's id to its state, as the master shows it.
func workerStates(web string) (map[string]string, error) {
	r, err := getStats(web)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, w := range r.Workers {
		out[w.ID] = w.State
	}
	return out, nil
}

// workerIDs are the node ids of a Go worker (from its log) and of a
// Python worker (the other one the master lists).
func workerIDs(t *testing.T, web string, goWorker *proc) (goID, pyID string) {
	t.Helper()
	re := regexp.MustCompile(`node_id=(\S+)`)
	testbin.Eventually(t, 60*time.Second, "both workers to join", func() (bool, string) {
		m := re.FindStringSubmatch(goWorker.Out.String())
		states, err := workerStates(web)
		if m == nil || err != nil || len(states) != 2 {
			return false, fmt.Sprintf("%v %v", states, err)
		}
		goID = m[1]
		for id := range states {
			if id != goID {
				pyID = id
			}
		}
		return pyID != "" && states[goID] != "", fmt.Sprint(states)
	})
	return goID, pyID
}

// One master, a Python worker and a Go worker side by side (and, on
// 2.47.0, both in the Logs tab): while the master ramps up, the Go worker
// is shown spawning, then both running; on SIGTERM each
// tells the master it quits, and the master drops it from its list at
// once (a worker that only vanished would be listed as missing).
func statesAsPythonWorkers(t *testing.T) {
	t.Parallel()
	pythons := map[string]func() (locusts.Locust, error){"pinned": locusts.Pinned, "debian": locusts.DebianWorkers}
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			busy.Join(t)
			l := testbin.Locust(t, v.find)
			py := testbin.Locust(t, pythons[v.name])
			target := startTarget(t)
			web, port, master := webMaster(t, l)
			// DEBUG: its spawns and their completions, for a failure's account.
			goWorker := startWorker(t, port, "--loglevel", "DEBUG")
			pyWorker := pythonWorker(t, py, port)
			goID, pyID := workerIDs(t, web, goWorker)
			if v.name == "pinned" {
				checkLogsTab(t, web, goID, pyID)
			}

			// 8 users at 2 a second: four seconds of ramp-up.
			testbin.PostForm(t, web+"/swarm", url.Values{"user_count": {"8"}, "spawn_rate": {"2"}, "host": {target}, "target": {"epoll"}})
			seen := map[string]map[string]bool{goID: {}, pyID: {}}
			var timeline []string // every sample, for a failure's account
			swarmed := time.Now()
			deadline := swarmed.Add(60 * time.Second)
			for {
				r, err := getStats(web)
				if err != nil {
					t.Fatal(err)
				}
				states := map[string]string{}
				for _, w := range r.Workers {
					states[w.ID] = w.State
				}
				timeline = append(timeline, fmt.Sprintf("%5.2fs master %s, Go worker %s, Python worker %s",
					time.Since(swarmed).Seconds(), r.State, states[goID], states[pyID]))
				if r.State == "spawning" {
					for _, w := range r.Workers {
						if seen[w.ID] != nil {
							seen[w.ID][w.State] = true
						}
					}
				}
				if r.State == "running" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the master did not finish its ramp-up: %+v", r)
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("states during the ramp-up: Python worker %v, Go worker %v", seen[pyID], seen[goID])
			// A Python worker is shown spawning for the moment it takes
			// to build its users, which the samples may or may not catch;
			// the Go worker says so all through the ramp-up.
			if !seen[goID]["spawning"] {
				t.Errorf("the Go worker was never shown spawning during the ramp-up: %v; the samples:\n%s\nits log:\n%s",
					seen[goID], strings.Join(timeline, "\n"), goWorker.Out.String())
			}
			testbin.Eventually(t, 20*time.Second, "both workers to be shown running", func() (bool, string) {
				s, err := workerStates(web)
				return err == nil && s[goID] == "running" && s[pyID] == "running", fmt.Sprint(s, err)
			})

			for _, w := range []struct {
				p  *proc
				id string
			}{{pyWorker, pyID}, {goWorker, goID}} {
				w.p.Signal(syscall.SIGTERM)
				if code := w.p.Wait(t, 30*time.Second); code != 0 {
					t.Errorf("%s exited %d on SIGTERM", w.p.Name, code)
				}
				// A quit takes the worker off the list; a worker that only
				// went away stays on it, missing, for good.
				testbin.Eventually(t, 5*time.Second, w.p.Name+" to leave the master's list", func() (bool, string) {
					s, err := workerStates(web)
					_, listed := s[w.id]
					return err == nil && !listed, fmt.Sprint(s, err)
				})
				if !strings.Contains(master.Out.String(), fmt.Sprintf("Worker '%s' (index", w.id)) {
					t.Errorf("the master did not log %s's quit", w.p.Name)
				}
			}
		})
	}
}

// The web UI's class editor (POST /user: a host and the tasks of one
// class) reaches the workers: a Python worker and a Go worker, each
// under its own master, send the edited class's requests to the host
// given there (a server that answers 404), where they would have gone to
// their default target. The failures CSV-like rows the master shows must
// match.
func classEditAsPythonWorkers(t *testing.T) {
	t.Parallel()
	busy.Join(t) // HammerUsers, one worker after the other
	l := testbin.Locust(t, locusts.Pinned)
	target := startTarget(t)
	missing := serveMisbehaving(t, "404")
	got := map[string]string{}
	for _, kind := range []string{"python", "go"} {
		t.Run(kind, func(t *testing.T) {
			web, port, _ := webMaster(t, l, "--class-picker")
			if kind == "python" {
				// Without a host, Python workers aim at TARGET_URL's model.
				pythonWorker(t, l, port, "TARGET_URL="+target)
			} else {
				startWorker(t, port, "-H", target)
			}
			testbin.Eventually(t, 60*time.Second, "the worker to join", func() (bool, string) {
				s, err := workerStates(web)
				return err == nil && len(s) == 1, fmt.Sprint(s, err)
			})
			edit, _ := json.Marshal(map[string]any{"user_class_name": "HammerUser", "host": missing,
				"weight": 1, "fixed_count": 0, "tasks": []string{"/"}})
			res, err := http.Post(web+"/user", "application/json", bytes.NewReader(edit))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 201 {
				t.Fatalf("POST /user: %s", res.Status)
			}
			time.Sleep(500 * time.Millisecond) // the update travels on its own
			testbin.PostForm(t, web+"/swarm", url.Values{"user_count": {"1"}, "spawn_rate": {"1"}, "host": {""},
				"user_classes": {"HammerUser"}})
			var r *webStats
			testbin.Eventually(t, 30*time.Second, "requests", func() (bool, string) {
				r, err = getStats(web)
				return err == nil && r.row("Aggregated").NumRequests > 20, fmt.Sprintf("%+v %v", r, err)
			})
			testbin.PostForm(t, web+"/stop", nil)
			var rows []string
			for _, s := range r.Stats {
				if s.Name != "Aggregated" {
					rows = append(rows, fmt.Sprintf("%s failed=%v", s.Name, s.NumFailures == s.NumRequests))
				}
			}
			for _, e := range r.Errors {
				rows = append(rows, fmt.Sprint(e["name"], " ", e["error"]))
			}
			slices.Sort(rows)
			got[kind] = strings.Join(rows, "\n")
		})
	}
	if !strings.Contains(got["python"], "HTTPError('404 Client Error") {
		t.Fatalf("the Python worker did not use the edited host:\n%s", got["python"])
	}
	if got["python"] != got["go"] {
		t.Errorf("after the class edit the master shows\nfrom a Python worker:\n%s\nfrom a Go worker:\n%s", got["python"], got["go"])
	}
}

var logLine = regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] [^/\s]+/(DEBUG|INFO|WARNING|ERROR|CRITICAL)/\S+: `)

// checkLogsTab checks that the Logs tab (GET /logs) shows what each
// worker logged, a Python worker's and a Go worker's lines in the same
// form.
func checkLogsTab(t *testing.T, web, goID, pyID string) {
	t.Helper()
	var logs struct {
		Workers map[string][]string `json:"workers"`
	}
	testbin.Eventually(t, 30*time.Second, "both workers' logs", func() (bool, string) {
		res, err := http.Get(web + "/logs")
		if err != nil {
			return false, err.Error()
		}
		defer res.Body.Close()
		if err := json.NewDecoder(res.Body).Decode(&logs); err != nil {
			return false, err.Error()
		}
		return len(logs.Workers[goID]) > 0 && len(logs.Workers[pyID]) > 0, fmt.Sprint(logs.Workers)
	})
	for _, id := range []string{pyID, goID} {
		for _, line := range logs.Workers[id] {
			if !logLine.MatchString(line) {
				t.Errorf("worker %s: a line not in Locust's form: %q", id, line)
			}
		}
	}
	if !slices.ContainsFunc(logs.Workers[goID], func(s string) bool { return strings.Contains(s, "/INFO/boomer: master acknowledged this worker") }) {
		t.Errorf("the Go worker's lines lack its acknowledgement: %q", logs.Workers[goID])
	}
}

// counting is a target that counts the requests it gets.
func counting(t *testing.T) (string, *atomic.Int64) {
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Write([]byte("ok"))
	}))
	t.Cleanup(s.Close)
	return s.URL, &n
}

// A master killed during a run and a new one on its port within seconds:
// the Go worker joins the new master with its old users stopped (the
// target hears nothing more, the new master, with no run started, counts
// nothing). A Python worker in the same case keeps its users running,
// is not listed by the new master but has its requests counted there: the
// README says so.
func newMasterStopsOldUsers(t *testing.T) {
	t.Parallel()
	l := testbin.Locust(t, locusts.Pinned)
	for _, kind := range []string{"python", "go"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			busy.Join(t)
			target, hits := counting(t)
			port, webPort := testbin.FreePort(t), testbin.FreePort(t)
			webArgs := []string{"--web-host", "127.0.0.1", "--web-port", strconv.Itoa(webPort)}
			first := start(t, "first master", l.Path, masterArgs(t, port, webArgs...)...)
			waitListening(t, port, first)
			web := fmt.Sprintf("http://127.0.0.1:%d", webPort)
			if kind == "python" {
				pythonWorker(t, l, port)
			} else {
				startWorker(t, port)
			}
			testbin.Eventually(t, 60*time.Second, "the worker to join", func() (bool, string) {
				s, err := workerStates(web)
				return err == nil && len(s) == 1, fmt.Sprint(s, err)
			})
			testbin.PostForm(t, web+"/swarm", url.Values{"user_count": {"2"}, "spawn_rate": {"2"}, "host": {target},
				"target": {"epoll"}})
			testbin.Eventually(t, 30*time.Second, "the users' requests", func() (bool, string) {
				return hits.Load() > 10, fmt.Sprint(hits.Load())
			})
			first.Signal(syscall.SIGKILL)
			first.Wait(t, 10*time.Second)
			second := start(t, "second master", l.Path, masterArgs(t, port, webArgs...)...)
			waitListening(t, port, second)
			if kind == "go" {
				testbin.Eventually(t, 40*time.Second, "the worker to join the second master", func() (bool, string) {
					s, err := workerStates(web)
					return err == nil && len(s) == 1, fmt.Sprint(s, err)
				})
			}
			// A Python worker does not join a new master (it sends no
			// client_ready again); its stats reports reach it all the same.
			time.Sleep(6 * time.Second)
			before := hits.Load()
			time.Sleep(2 * time.Second)
			r, err := getStats(web)
			if err != nil {
				t.Fatal(err)
			}
			after := hits.Load()
			t.Logf("%s worker: the second master (state %s) counts %d requests; the target got %d in 2 s", kind, r.State, r.row("Aggregated").NumRequests, after-before)
			if kind == "go" {
				if after != before {
					t.Errorf("the Go worker's old users still load the target: %d requests in 2 s", after-before)
				}
				if n := r.row("Aggregated").NumRequests; n != 0 || r.UserCount != 0 {
					t.Errorf("the second master, no run started, shows %d users and counts %d requests from the Go worker", r.UserCount, n)
				}
			} else {
				if after == before {
					t.Errorf("the Python worker stopped its users: the README says it keeps them")
				}
				if r.row("Aggregated").NumRequests == 0 {
					t.Errorf("the second master counted no requests from the Python worker: the README says it does")
				}
			}
		})
	}
}
