package report

import (
	"math"
	"strings"
	"testing"
)

// Each model's connections: the most held, the memory each cost (the
// slope over the steps) and where and how it stopped, told by the
// server's own figures.
func TestHeld(t *testing.T) {
	sl := DefaultServiceLevel
	row := func(users int, active, rss, threads, fds float64) StepRow {
		sv := server(active, 0, 10)
		sv.RSSMiB, sv.Threads, sv.FDs = rss, threads, fds
		r := StepRow{Step: step(users, users, 0, 5), Server: sv}
		judge(&r, nil, sl)
		return r
	}
	nan := math.NaN()
	r := &Report{Sweeps: []SweepRun{
		// 20 MiB, then 8 KiB a connection.
		{Name: "epoll", Model: "epoll", Steps: []StepRow{
			row(1000, 1000, 20+1000*8.0/1024, nan, 1010),
			row(5000, 5000, 20+5000*8.0/1024, nan, 5010),
			row(15000, 15000, 20+15000*8.0/1024, nan, 15010),
		}},
		{Name: "select", Model: "select", Steps: []StepRow{
			row(1000, 1000, 10, nan, 1010),
			row(5000, 1010, 10, nan, 1022),
		}},
		// Slow, with every connection held: no stop.
		{Name: "slow", Model: "poll", Steps: []StepRow{
			func() StepRow {
				r := StepRow{Step: step(2000, 2000, 0, 3000), Server: server(2000, 0, 10)}
				judge(&r, nil, sl)
				return r
			}(),
		}},
		// Its /metrics silent at the last step.
		{Name: "process", Model: "process", Steps: []StepRow{
			row(1000, 1000, 100, 7000, 13000),
			row(5000, nan, nan, nan, nan),
		}},
		{Name: "thread", Model: "thread", Steps: []StepRow{
			row(100, 100, 30, 102, nan),
			row(1000, 503, 60, 505, nan),
		}},
		// Every user held until the master lost the worker: the model
		// is not what stopped.
		{Name: "cut", Model: "poll", LostWorker: "the master lost its worker", Steps: []StepRow{
			row(1000, 1000, 20, nan, 1010),
			row(5000, 5000, 50, nan, 5010),
		}},
	}}
	hs := r.held()
	by := map[string]Held{}
	for _, h := range hs {
		by[h.Run] = h
	}
	if h := by["epoll"]; h.Most != 15000 || h.At != 15000 || math.Abs(h.PerConnKiB-8) > 0.01 ||
		h.Stopped != "did not stop: held every user up to 15000, the last step measured" {
		t.Errorf("epoll: %+v", h)
	}
	if h := by["select"]; !math.IsNaN(h.PerConnKiB) || !strings.HasPrefix(h.Stopped, "at 5000 users, holding 1010: select's FD_SETSIZE: it cannot watch a descriptor past 1023") {
		t.Errorf("select: %+v", h)
	}
	if h := by["thread"]; !strings.HasPrefix(h.Stopped, "at 1000 users, holding 503: a thread a connection: 505 threads; queued in the backlog") {
		t.Errorf("thread: %+v", h)
	}
	if h := by["process"]; !strings.HasPrefix(h.Stopped, "held every user up to 1000; not measured from 5000 users: its /metrics did not answer") {
		t.Errorf("process: %+v", h)
	}
	if h := by["slow"]; h.Stopped != "did not stop: held every user up to 2000, the last step measured; but from 2000 users it missed the service level: p95 3000 ms" {
		t.Errorf("slow: %+v", h)
	}
	if h := by["cut"]; h.Stopped != "not seen: held every user up to 5000, then the run ended early (the master lost its worker)" {
		t.Errorf("cut: %+v", h)
	}
	if k := kneeOf(&r.Sweeps[len(r.Sweeps)-1]); !strings.HasSuffix(k.Sentence, "its knee is beyond the steps measured. The run ended early, after the steps above: the master lost its worker.") {
		t.Errorf("cut's knee: %s", k.Sentence)
	}
	var md strings.Builder
	r.heldMarkdown(&md)
	if !strings.Contains(md.String(), "| epoll | 15000 | 15000 | 137.2 | 8.0 | 10.0 | did not stop") {
		t.Errorf("markdown:\n%s", md.String())
	}
	var page strings.Builder
	r.heldHTML(&page)
	if !strings.Contains(page.String(), "<td>select</td><td>1010</td><td>5000</td>") {
		t.Errorf("html:\n%s", page.String())
	}
	charts := r.heldCharts()
	if len(charts) != 3 || len(charts[1].lines) != len(r.Sweeps) || charts[1].lines[0].x[2] != 15000 {
		t.Errorf("charts: %+v", charts)
	}
}
