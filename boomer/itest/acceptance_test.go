package itest

import (
	"bufio"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// metricsPoller asks a target's admin port for /metrics about once a
// second, and remembers every answer slower than a second (or missing)
// and the last EMFILE count.
type metricsPoller struct {
	url  string
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	polls  int
	slow   []string
	emfile float64
}

func pollMetrics(admin string) *metricsPoller {
	p := &metricsPoller{url: admin + "/metrics", stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

var emfileLine = regexp.MustCompile(`^serverlab_accept_errors_total\{[^}]*errno="EMFILE"[^}]*\} (\S+)`)

func (p *metricsPoller) loop() {
	defer close(p.done)
	// The client waits longer than the bound, so a slow answer is measured
	// rather than cut.
	// A new connection each time, as a health check makes: a kept-alive
	// one would not show that the port can no longer accept.
	client := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		began := time.Now()
		res, err := client.Get(p.url)
		var emfile float64 = -1
		if err == nil {
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 64*1024), 1024*1024)
			for sc.Scan() {
				if m := emfileLine.FindStringSubmatch(sc.Text()); m != nil {
					v, _ := strconv.ParseFloat(m[1], 64)
					emfile = max(emfile, 0) + v
				}
			}
			res.Body.Close()
		}
		took := time.Since(began)
		p.mu.Lock()
		p.polls++
		switch {
		case err != nil:
			p.slow = append(p.slow, fmt.Sprintf("%s: %v", began.Format("15:04:05.000"), err))
		case res.StatusCode != 200:
			p.slow = append(p.slow, fmt.Sprintf("%s: %s", began.Format("15:04:05.000"), res.Status))
		case took > time.Second:
			p.slow = append(p.slow, fmt.Sprintf("%s: answered after %v", began.Format("15:04:05.000"), took.Round(time.Millisecond)))
		}
		if emfile >= 0 {
			p.emfile = emfile
		}
		p.mu.Unlock()
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
	}
}

// end stops polling and returns what was seen.
func (p *metricsPoller) end() (polls int, slow []string, emfile float64) {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.polls, p.slow, p.emfile
}

// workerKinds run one after the other: a Python worker starved of CPU
// misses its heartbeats, and its master gives up on it.
var workerKinds = []struct {
	name   string
	python bool
}{{"python", true}, {"go", false}}

// The README's "Too many open files" recipe: 300 LabUsers, 100 a second,
// against an epoll target limited to 64 descriptors (TARGET_NOFILE=64 in
// compose). The users it cannot accept wait in its backlog until their
// response timeout,
// and the failures show in Locust's failures CSV within the run (25 s: the
// users are all started in 3 s, the first time out 10 s later), named the
// same by Go and Python workers. Meanwhile the target's /metrics answers
// within a second every time and counts EMFILE.
func TestTargetOutOfFDsShowsFailures(t *testing.T) {
	t.Parallel()
	busy.Join(t) // a Python worker spawning 300 users
	l := testbin.Locust(t, locusts.Pinned)
	got := make([][]string, len(workerKinds))
	t.Run("workers", func(t *testing.T) {
		for i, k := range workerKinds {
			t.Run(k.name, func(t *testing.T) {
				target, admin := startModel(t, "epoll", "--max-fds", "64", "--admin-addr", "127.0.0.1:0")
				poller := pollMetrics(admin)
				// The README's recipe, as it is: the default timeouts.
				r := run{locust: l, python: k.python, host: target, users: 300, runTime: "25s", class: "LabUser",
					masterArgs: []string{"-r", "100"}}.do(t)
				polls, slow, emfile := poller.end()
				reqs, fails := aggregated(t, r.prefix)
				fs := failures(t, r.prefix)
				t.Logf("%d requests, %d failures; %d polls of /metrics, EMFILE %v", reqs, fails, polls, emfile)
				if fails == 0 || len(fs) == 0 {
					t.Errorf("no failures in 25 s:\n%s", csvText(t, r.prefix+"_failures.csv"))
				}
				got[i] = portless(texts(fs), target)
				if emfile <= 0 {
					t.Errorf("the target's /metrics counted no EMFILE (%d polls)", polls)
				}
				if len(slow) > 0 {
					t.Errorf("/metrics answered late or not at all in %d of %d polls:\n%s", len(slow), polls, strings.Join(slow, "\n"))
				}
			})
		}
	})
	if py, goes := joinLines(got[0]), joinLines(got[1]); py != goes {
		t.Errorf("failures differ:\nPython workers:\n%s\nGo workers:\n%s", py, goes)
	}
}

// 50 LabUsers on the single model for 20 s with the default timeouts: the
// users waiting in its backlog time out, so the run shows a failure rate
// above zero, named as the response timeout, with either kind of worker.
func TestSingleModelTimesOutUsers(t *testing.T) {
	t.Parallel()
	waiting.Join(t)
	l := testbin.Locust(t, locusts.Pinned)
	got := make([][]string, len(workerKinds))
	t.Run("workers", func(t *testing.T) {
		for i, k := range workerKinds {
			t.Run(k.name, func(t *testing.T) {
				target, _ := startModel(t, "single")
				r := run{locust: l, python: k.python, host: target, users: 50, runTime: "20s", class: "LabUser",
					masterArgs: []string{"-r", "50"}}.do(t)
				reqs, fails := aggregated(t, r.prefix)
				t.Logf("%d requests, %d failures", reqs, fails)
				if reqs == 0 || fails == 0 {
					t.Errorf("%d requests, %d failures: want a failure rate above zero", reqs, fails)
				}
				got[i] = portless(texts(failures(t, r.prefix)), target)
				timedOut := false
				for _, f := range got[i] {
					timedOut = timedOut || strings.Contains(f, "Read timed out. (read timeout=10.0)")
				}
				if !timedOut {
					t.Errorf("no response timeout among the failures:\n%s", joinLines(got[i]))
				}
			})
		}
	})
	if py, goes := joinLines(got[0]), joinLines(got[1]); py != goes {
		t.Errorf("failures differ:\nPython workers:\n%s\nGo workers:\n%s", py, goes)
	}
}

// portless writes the target's port as PORT in failure texts, so that runs
// against two targets compare.
func portless(texts []string, target string) []string {
	port := target[strings.LastIndexByte(target, ':')+1:]
	out := make([]string, len(texts))
	for i, s := range texts {
		out[i] = strings.ReplaceAll(s, "port="+port+")", "port=PORT)")
	}
	return out
}
