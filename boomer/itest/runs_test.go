package itest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"serverlab/internal/launch"
	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// run describes one headless master with one worker, Go or Python.
type run struct {
	locust     locusts.Locust
	python     bool           // a Python worker on locustfile.py instead of bin/boomer
	host       string         // the master's -H
	users      int            // -u, started all in the first second
	runTime    string         // -t
	class      string         // the user class
	masterArgs []string       // more master options, e.g. --response-timeout 0.5
	goArgs     []string       // more bin/boomer flags
	fds        int            // the worker's open-files limit; 0 leaves it
	env        []string       // more environment for the worker, e.g. a CA bundle
	workers    locusts.Locust // the Python worker's Locust, when not the master's
	// stopFirst ends the test as the web UI's autostart does: the master
	// says stop when the run time is up, and quit stopFirstQuit later.
	// Headless, it says quit at once and gives reports half a second of
	// its own scheduling (below).
	stopFirst bool
}

// stopFirstQuit is --autoquit's wait for a stopFirst run: reports of the
// stop arrive within it, however busy the machine.
const stopFirstQuit = "3"

// ran is what a run left: the CSV prefix and both processes.
type ran struct {
	prefix         string
	master, worker *proc
}

// do runs r to its end and waits for the worker to leave. A Python worker
// that recorded no request at all was kept from a CPU: on a busy machine
// its interpreter spawns and reports slowly, and a run of a few seconds
// can end before its first request does (CI saw it twice in a day). Such
// a run is made once more, three times as long: the tests judge what a
// worker records, not how much.
func (r run) do(t *testing.T) ran {
	t.Helper()
	out := r.once(t)
	if !r.python || requestCounts(t, out.prefix+"_stats.csv")["Aggregated"][0] > 0 {
		return out
	}
	d, err := time.ParseDuration(r.runTime)
	if err != nil {
		t.Fatalf("run time %q: %v", r.runTime, err)
	}
	longer := r
	longer.runTime = (3 * d).String()
	t.Logf("the Python worker recorded no request in %s: once more, for %s", r.runTime, longer.runTime)
	return longer.once(t)
}

// once runs r to its end and waits for the worker to leave.
func (r run) once(t *testing.T) ran {
	t.Helper()
	port := testbin.FreePort(t)
	out := ran{prefix: filepath.Join(t.TempDir(), "run")}
	args := append([]string{"--headless", "--expect-workers", "1", "--csv", out.prefix, "-H", r.host,
		"-u", strconv.Itoa(r.users), "-r", strconv.Itoa(r.users), "-t", r.runTime}, r.masterArgs...)
	if r.stopFirst {
		args[0] = "--autostart"
		args = append(args, "--autoquit", stopFirstQuit,
			// Port 0: the kernel picks one; a free port chosen beforehand can
			// be taken meanwhile by the 200 users' connections.
			"--web-host", "127.0.0.1", "--web-port", "0")
	}
	out.master = startMaster(t, "master "+r.locust.Version, r.locust, port, append(args, r.class)...)
	if r.python {
		args := []string{"-f", filepath.Join(testbin.Root(t), "locustfile.py"), "--worker",
			"--master-host", "127.0.0.1", "--master-port", strconv.Itoa(port)}
		py := r.locust.Path
		if r.workers.Path != "" {
			py = r.workers.Path
		}
		if r.fds > 0 {
			// Locust raises a lower soft limit at start when it may; a
			// hard limit keeps it where the run wants it.
			sh := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, r.fds)
			out.worker = testbin.Start(t, "python worker", r.env, "sh", append([]string{"-c", sh, py}, args...)...)
		} else {
			out.worker = testbin.Start(t, "python worker", r.env, py, args...)
		}
	} else {
		args := r.goArgs
		if r.fds > 0 {
			args = append([]string{"--max-fds", strconv.Itoa(r.fds)}, args...)
		}
		bin := testbin.Build(t, "serverlab/boomer/cmd/boomer")
		out.worker = testbin.Start(t, "worker", r.env, bin, append([]string{"--master-port", strconv.Itoa(port)}, args...)...)
	}
	out.master.Wait(t, 120*time.Second)
	out.worker.Wait(t, 30*time.Second)
	return out
}

// waitListening waits until the master accepts connections on port.
func waitListening(t *testing.T, port int, master *proc) {
	t.Helper()
	master.Await(t, 60*time.Second, launch.Master(port))
}

// failure is one row of a failures CSV.
type failure struct {
	method, name, err string
	occurrences       int
}

// failures reads a failures CSV. Debian's 2.12.1 writes the error's repr,
// quotes included; they are taken off.
func failures(t *testing.T, prefix string) []failure {
	t.Helper()
	var out []failure
	for _, r := range csvRows(t, prefix+"_failures.csv") {
		n, err := strconv.Atoi(r["Occurrences"])
		if err != nil {
			t.Fatalf("%s_failures.csv: row %v", prefix, r)
		}
		e := r["Error"]
		if len(e) >= 2 && e[0] == e[len(e)-1] && (e[0] == '"' || e[0] == '\'') {
			e = e[1 : len(e)-1]
		}
		out = append(out, failure{r["Method"], r["Name"], e, n})
	}
	return out
}

// texts are the distinct failure rows, occurrences left out, sorted.
func texts(fs []failure) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range fs {
		k := f.method + " " + f.name + " " + f.err
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func csvText(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func aggregated(t *testing.T, prefix string) (requests, fails int) {
	t.Helper()
	c := requestCounts(t, prefix+"_stats.csv")
	agg, ok := c["Aggregated"]
	if !ok {
		t.Fatalf("no Aggregated row in %s_stats.csv:\n%s", prefix, csvText(t, prefix+"_stats.csv"))
	}
	return agg[0], agg[1]
}

func joinLines(s []string) string { return strings.Join(s, "\n") }
