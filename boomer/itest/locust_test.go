package itest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/launch"
	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// masterArgs are the arguments every master gets: the real locustfile and
// a ZeroMQ port of its own on loopback.
func masterArgs(t *testing.T, masterPort int, more ...string) []string {
	return testbin.MasterArgs(t, masterPort, more...)
}

// headless runs a headless master with one Go worker until the run time is
// over, and returns the CSV prefix, the master's exit code and the worker.
func headless(t *testing.T, l locusts.Locust, target string, workerArgs []string, locustArgs ...string) (csvPrefix string, code int, master, worker *proc) {
	t.Helper()
	port := testbin.FreePort(t)
	csvPrefix = filepath.Join(t.TempDir(), "run")
	master = startMaster(t, "master "+l.Version, l, port, append([]string{
		"--headless", "--expect-workers", "1", "--csv", csvPrefix, "-H", target}, locustArgs...)...)
	worker = startWorker(t, port, workerArgs...)
	return csvPrefix, master.Wait(t, 90*time.Second), master, worker
}

// versions are the Locust masters the worker must serve.
var versions = []struct {
	name string
	find func() (locusts.Locust, error)
}{{"pinned", locusts.Pinned}, {"debian", locusts.Debian}}

// Every class of locustfile.py, run by the Go worker for both Locust
// versions: all requests succeed and reach the master's CSV, and the worker
// exits 0 when the master quits.
func TestHeadlessMasterDrivesGoWorker(t *testing.T) {
	t.Parallel()
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			waiting.Join(t)
			l := testbin.Locust(t, v.find)
			target := startTarget(t)
			prefix, code, master, worker := headless(t, l, target, nil, "-u", "20", "-r", "20", "-t", "10s")
			if code != 0 {
				t.Errorf("master exited %d", code)
			}
			counts := requestCounts(t, prefix+"_stats.csv")
			for _, name := range []string{"/", "/style.css", "/app.js", "/photo.jpg", "/delay?ms=100", "/cpu?n=1000", "Aggregated"} {
				if counts[name][0] == 0 {
					t.Errorf("no %s requests in the stats: %s", name, describe(counts))
				}
			}
			if counts["Aggregated"][1] != 0 {
				t.Errorf("failures in the stats: %s", describe(counts))
			}
			if !strings.Contains(master.Out.String(), "run ended: 0 requests failed with 'Too many open files'") {
				t.Errorf("the locustfile did not report the fd failures at the end")
			}
			if code := worker.Wait(t, 20*time.Second); code != 0 {
				t.Errorf("worker exited %d after the master quit", code)
			}
		})
	}
}

var fdReport = regexp.MustCompile(`run ended: (\d+) requests failed with 'Too many open files'`)

// A worker limited to 64 descriptors cannot give 200 users a connection
// each: the failures read as a Python worker's would, and the locustfile
// counts them.
func TestWorkerOutOfFDs(t *testing.T) {
	t.Parallel()
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			waiting.Join(t)
			l := testbin.Locust(t, v.find)
			target := startTarget(t)
			prefix, _, master, worker := headless(t, l, target, []string{"--max-fds", "64"},
				"-u", "200", "-r", "200", "-t", "6s", "LabUser")
			found := false
			for _, r := range csvRows(t, prefix+"_failures.csv") {
				// 2.12.1 writes the error's repr, quotes and all.
				if strings.Trim(r["Error"], `"`) == "OSError(24, 'Too many open files')" && r["Occurrences"] != "0" {
					found = true
				}
			}
			if !found {
				b, _ := os.ReadFile(prefix + "_failures.csv")
				t.Errorf("no OSError(24, 'Too many open files') in the failures CSV:\n%s", b)
			}
			if m := fdReport.FindStringSubmatch(master.Out.String()); m == nil || m[1] == "0" {
				t.Errorf("the locustfile did not count the fd failures: %q", m)
			}
			if code := worker.Wait(t, 20*time.Second); code != 0 {
				t.Errorf("worker exited %d", code)
			}
		})
	}
}

// The web UI drives the Go worker like a Python one: swarm, live stats,
// stop, swarm again. Then the master dies and a new one starts: the worker
// reconnects, runs that master's test, and exits 0 when it quits.
func TestWebUIAndMasterRestart(t *testing.T) {
	t.Parallel()
	waiting.Join(t)
	l := testbin.Locust(t, locusts.Pinned)
	target := startTarget(t)
	port, webPort := testbin.FreePort(t), testbin.FreePort(t)
	master := startMaster(t, "web master", l, port, "--web-host", "127.0.0.1", "--web-port", strconv.Itoa(webPort))
	worker := startWorker(t, port, "-H", target)
	web := fmt.Sprintf("http://127.0.0.1:%d", webPort)
	master.Await(t, 30*time.Second, launch.Answers(web+"/"), launch.WorkersConnected(1))

	// The first swarm names the host; the second leaves it empty, so the
	// worker falls back to its -H.
	for i, host := range []string{target, ""} {
		testbin.PostForm(t, web+"/swarm", url.Values{
			"user_count": {"10"}, "spawn_rate": {"10"}, "host": {host}, "target": {"epoll"}})
		testbin.Eventually(t, 30*time.Second, fmt.Sprintf("swarm %d to show the worker's requests", i+1), func() (bool, string) {
			r, err := getStats(web)
			if err != nil {
				return false, err.Error()
			}
			agg := r.row("Aggregated")
			return r.UserCount == 10 && r.Workers[0].UserCount == 10 && agg.NumRequests > 0 && r.row("/").NumRequests > 0,
				fmt.Sprintf("%+v", r)
		})
		r, err := getStats(web)
		if err != nil {
			t.Fatal(err)
		}
		if agg := r.row("Aggregated"); agg.NumFailures != 0 {
			t.Errorf("swarm %d: %d failures: %+v", i+1, agg.NumFailures, r.Errors)
		}
		testbin.PostForm(t, web+"/stop", nil)
		testbin.Eventually(t, 30*time.Second, fmt.Sprintf("swarm %d to stop", i+1), func() (bool, string) {
			r, err := getStats(web)
			return err == nil && r.State == "stopped" && r.Workers[0].UserCount == 0, fmt.Sprintf("%+v %v", r, err)
		})
	}

	res, err := http.Get(web + "/fd-errors")
	if err != nil {
		t.Fatal(err)
	}
	var fd map[string]int
	err = json.NewDecoder(res.Body).Decode(&fd)
	res.Body.Close()
	if n, ok := fd["too_many_open_files"]; err != nil || !ok || n != 0 {
		t.Errorf("GET /fd-errors: %v %v, want too_many_open_files 0", fd, err)
	}

	master.Signal(syscall.SIGKILL)
	master.Wait(t, 10*time.Second)
	prefix := filepath.Join(t.TempDir(), "again")
	again := start(t, "second master", l.Path, masterArgs(t, port,
		"--headless", "--expect-workers", "1", "-u", "5", "-r", "5", "-t", "5s", "--csv", prefix, "-H", target, "HammerUser")...)
	if code := again.Wait(t, 90*time.Second); code != 0 {
		t.Errorf("second master exited %d", code)
	}
	counts := requestCounts(t, prefix+"_stats.csv")
	if c := counts["Aggregated"]; c[0] == 0 || c[1] != 0 {
		t.Errorf("after the master restart: %s", describe(counts))
	}
	if code := worker.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("worker exited %d after the second master quit", code)
	}
}

// webStats is the part of GET /stats/requests the test reads.
type webStats struct {
	State     string `json:"state"`
	UserCount int    `json:"user_count"`
	Stats     []struct {
		Name        string `json:"name"`
		NumRequests int    `json:"num_requests"`
		NumFailures int    `json:"num_failures"`
	} `json:"stats"`
	Errors  []map[string]any `json:"errors"`
	Workers []struct {
		ID        string `json:"id"`
		State     string `json:"state"`
		UserCount int    `json:"user_count"`
	} `json:"workers"`
}

type statRow struct{ NumRequests, NumFailures int }

func (w *webStats) row(name string) statRow {
	for _, s := range w.Stats {
		if s.Name == name {
			return statRow{s.NumRequests, s.NumFailures}
		}
	}
	return statRow{}
}

func getStats(web string) (*webStats, error) {
	res, err := http.Get(web + "/stats/requests")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var w webStats
	if err := json.NewDecoder(res.Body).Decode(&w); err != nil {
		return nil, err
	}
	return &w, nil
}

// The locustfile's --target choices are exactly the models bin/target
// serves, in its order.
func TestLocustfileTargetsAreTheModels(t *testing.T) {
	out, err := exec.Command(testbin.Build(t, "serverlab/targets/cmd/target"), "--list").Output()
	if err != nil {
		t.Fatalf("target --list: %v", err)
	}
	var models []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, _, _ := strings.Cut(line, "\t")
		models = append(models, strconv.Quote(name))
	}
	src, err := os.ReadFile(filepath.Join(testbin.Root(t), "locustfile.py"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)\nTARGETS = \[(.*?)\]`).FindSubmatch(src)
	if m == nil {
		t.Fatal("locustfile.py has no TARGETS = [...] list")
	}
	got := strings.Join(strings.Fields(strings.ReplaceAll(string(m[1]), ",", " ")), " ")
	if want := strings.Join(models, " "); got != want {
		t.Errorf("locustfile.py TARGETS %s, bin/target --list %s", got, want)
	}
}
