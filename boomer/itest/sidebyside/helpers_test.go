package sidebyside

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"serverlab/internal/launch"
	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// version is a Locust master and the Locust whose Python workers join it:
// Debian's 2.12.1 reports an empty version, which its own master refuses
// from a worker, so its Python workers are PyPI's 2.12.1.
type version struct {
	name            string
	master, workers func() (locusts.Locust, error)
}

var versions = []version{
	{"pinned", locusts.Pinned, locusts.Pinned},
	{"debian", locusts.Debian, locusts.DebianWorkers},
}

// prelude begins every test's locustfile: what the classes need, and a
// sampler that appends to the file $SAMPLES, every 0.2 s, a line of what
// the master's workers last reported (their users per class, in the
// spawning_complete and stats messages), its state and the stage of the
// test's LoadTestShape in force (enter sets it) and for how long.
const prelude = `import json
import os
import time

import gevent
from locust import LoadTestShape, constant, events
from locust.runners import MasterRunner
from serverlab_locust.declare import DeclaredUser, Task, get

STAGE = {"index": -1, "since": time.monotonic()}


def enter(index):
    if STAGE["index"] != index:
        STAGE.update(index=index, since=time.monotonic())


@events.init.add_listener
def _sample(environment, **_kw):
    if not isinstance(environment.runner, MasterRunner):
        return

    def loop():
        while True:
            runner = environment.runner
            workers = {w.id: {k: v for k, v in w.user_classes_count.items() if v} for w in runner.clients.values()}
            line = {"state": runner.state, "stage": STAGE["index"], "since": time.monotonic() - STAGE["since"],
                    "workers": workers}
            with open(os.environ["SAMPLES"], "a") as f:
                f.write(json.dumps(line) + "\n")
            gevent.sleep(0.2)

    gevent.spawn(loop)
`

// run says how every side of a test runs.
type run struct {
	classes  string   // the locustfile after the prelude
	workers  int      // workers per side
	master   []string // the master's options: --headless or --autostart and the test's
	pyWorker []string // more options for each Python worker
	web      bool     // the master has a web UI on a free port and waits for POST /swarm
	only     string   // the one version to run, by name; "": every version
}

// side is one master of a version and its workers, all Python or all Go.
type side struct {
	name     string // "pinned python", "debian go"...
	version  string
	python   bool
	pyLocust locusts.Locust // the Locust of its Python workers
	port     int
	master   *testbin.Proc
	workers  []*testbin.Proc
	prefix   string // the master's --csv prefix
	web      string // the web UI's URL, when it has one
	sampled  string // the sampler's file
}

// start writes the locustfile and starts, at once, a side per version and
// kind of worker, all with host as the master's -H (none if ""); it
// returns once every master takes workers and every worker is started
// (with a web UI, once the master counts them all).
func (r run) start(t *testing.T, host string) []*side {
	t.Helper()
	file := filepath.Join(t.TempDir(), "locustfile.py")
	if err := os.WriteFile(file, []byte(prelude+r.classes), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PYTHONPATH=" + testbin.Root(t)}
	var sides []*side
	for _, v := range versions {
		if r.only != "" && v.name != r.only {
			continue
		}
		l, pyLocust := testbin.Locust(t, v.master), testbin.Locust(t, v.workers)
		for _, python := range []bool{true, false} {
			kind := "go"
			if python {
				kind = "python"
			}
			s := &side{name: v.name + " " + kind, version: v.name, python: python, pyLocust: pyLocust, port: testbin.FreePort(t),
				prefix: filepath.Join(t.TempDir(), "run"), sampled: filepath.Join(t.TempDir(), "samples")}
			args := []string{"-f", file, "--master", "--master-bind-host", "127.0.0.1",
				"--master-bind-port", strconv.Itoa(s.port), "--csv", s.prefix}
			if host != "" {
				args = append(args, "-H", host)
			}
			if r.web {
				webPort := testbin.FreePort(t)
				s.web = fmt.Sprintf("http://127.0.0.1:%d", webPort)
				args = append(args, "--web-host", "127.0.0.1", "--web-port", strconv.Itoa(webPort))
			} else {
				args = append(args, "--expect-workers", strconv.Itoa(r.workers))
			}
			menv := append(slices.Clone(env), "SAMPLES="+s.sampled)
			s.master = testbin.Start(t, s.name+" master", menv, l.Path, append(args, r.master...)...)
			sides = append(sides, s)
		}
	}
	// The masters start side by side; a Go worker started before its
	// master binds would wait out its reconnect back-off.
	for _, s := range sides {
		s.master.Await(t, 60*time.Second, launch.Master(s.port))
	}
	boomer := testbin.Build(t, "serverlab/boomer/cmd/boomer")
	for _, s := range sides {
		for n := range r.workers {
			label := fmt.Sprintf("%s worker %d", s.name, n+1)
			if s.python {
				s.workers = append(s.workers, testbin.Start(t, label, env, s.pyLocust.Path, append([]string{"-f", file, "--worker",
					"--master-host", "127.0.0.1", "--master-port", strconv.Itoa(s.port)}, r.pyWorker...)...))
			} else {
				s.workers = append(s.workers, testbin.Start(t, label, nil, boomer, "--master-port", strconv.Itoa(s.port)))
			}
		}
	}
	if r.web {
		for _, s := range sides {
			s.master.Await(t, 60*time.Second, launch.Answers(s.web+"/"), launch.WorkersConnected(r.workers))
		}
	}
	return sides
}

// startTarget runs bin/target --model epoll on a free port and returns
// its base URL.
func startTarget(t *testing.T) string {
	t.Helper()
	bin := testbin.Build(t, "serverlab/targets/cmd/target")
	p, _ := testbin.Target(t, exec.Command(bin, "--model", "epoll", "--addr", "127.0.0.1:0",
		"--docroot", filepath.Join(testbin.Root(t), "targets", "www")))
	return "http://" + p.Ready.Addr
}

// waitAll waits for every side's master to end (its run over) and
// fails the test for an exit code other than 0.
func waitAll(t *testing.T, sides []*side) {
	t.Helper()
	for _, s := range sides {
		if code := s.master.Wait(t, 120*time.Second); code != 0 {
			t.Errorf("%s: the master exited %d", s.name, code)
		}
	}
}

// sample is one line of the prelude's sampler.
type sample struct {
	State   string                    `json:"state"`
	Stage   int                       `json:"stage"`
	Since   float64                   `json:"since"`
	Workers map[string]map[string]int `json:"workers"`
}

// samples are the sampler's lines so far.
func (s *side) samples() []sample {
	b, _ := os.ReadFile(s.sampled) // none yet: no samples
	var out []sample
	for _, line := range strings.Split(string(b), "\n") {
		var smp sample
		if json.Unmarshal([]byte(line), &smp) == nil {
			out = append(out, smp) // a line being written is left for later
		}
	}
	return out
}

// classCounts writes users per class as "AUser=4 BUser=2", classes
// sorted, "none" for no users.
func classCounts(m map[string]int) string {
	var parts []string
	for class, n := range m {
		if n != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", class, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// classes are the master's users per class, over all its workers.
func (smp sample) classes() string {
	sum := map[string]int{}
	for _, w := range smp.Workers {
		for class, n := range w {
			sum[class] += n
		}
	}
	return classCounts(sum)
}

// split is each worker's users per class, the workers in the order of
// their counts (their ids differ from run to run).
func (smp sample) split() string {
	var ws []string
	for _, w := range smp.Workers {
		ws = append(ws, classCounts(w))
	}
	slices.Sort(ws)
	return strings.Join(ws, " | ")
}

func (smp sample) users() int {
	n := 0
	for _, w := range smp.Workers {
		for _, c := range w {
			n += c
		}
	}
	return n
}

// rows maps each row of the side's stats CSV but Aggregated to its
// requests and failures.
func (s *side) rows(t *testing.T) map[string][2]int {
	t.Helper()
	_, rows := testbin.CSV(t, s.prefix+"_stats.csv")
	out := map[string][2]int{}
	for _, r := range rows {
		if r["Name"] == "Aggregated" {
			continue
		}
		n, err1 := strconv.Atoi(r["Request Count"])
		f, err2 := strconv.Atoi(r["Failure Count"])
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %s_stats.csv: row %v", s.name, s.prefix, r)
		}
		out[r["Name"]] = [2]int{n, f}
	}
	return out
}

func describeRows(rows map[string][2]int) string {
	var parts []string
	for name, c := range rows {
		parts = append(parts, fmt.Sprintf("%s: %d requests, %d failures", name, c[0], c[1]))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// pairs are the sides of one version: its Python side and its Go side.
func pairs(sides []*side) map[string][2]*side {
	out := map[string][2]*side{}
	for _, s := range sides {
		p := out[s.version]
		if s.python {
			p[0] = s
		} else {
			p[1] = s
		}
		out[s.version] = p
	}
	return out
}
