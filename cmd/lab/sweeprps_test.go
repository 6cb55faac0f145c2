package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
	"serverlab/lab/locustcsv"
)

// An open-model sweep on real masters of both Locust versions: the master
// sends each Go worker its rate, the knee is found on the rate axis, and
// single, whose one connection leaves the rest of the pool in its
// backlog, breaks at the first rate while epoll keeps up with both.
func TestSweepRPSEndToEnd(t *testing.T) {
	t.Parallel()
	target, pinned, debian := realMasters(t)
	for _, loc := range []locusts.Locust{pinned, debian} {
		t.Run(loc.Version, func(t *testing.T) {
			t.Parallel() // the runs mostly wait on their windows
			out := filepath.Join(t.TempDir(), "rps")
			var log strings.Builder
			code := runMain([]string{"--sweep-rps", "20,100", "--users", "40", "--spawn-rate", "40",
				"--models", "epoll,single", "--run-time", "3s",
				"--locust", loc.Path, "--bin", filepath.Dir(target), "--out", out}, io.Discard, &log)
			if code != 0 {
				t.Fatalf("lab run: exit %d\n%s\n%s", code, log.String(), logs(out))
			}
			knees := kneeRows(t, out)
			ep, single := knees["epoll"], knees["single"]
			if ep == nil || single == nil || ep["axis"] != "rate" || single["axis"] != "rate" {
				t.Fatalf("knee.csv: %v", knees)
			}
			if ep["rate_at_knee"] != "100" || ep["first_broken_rate"] != "" {
				t.Errorf("epoll did not keep up with both rates: %v", ep)
			}
			if rps, _ := strconv.ParseFloat(ep["rps_at_knee"], 64); !(rps > 50) {
				t.Errorf("epoll answered %v req/s at 100 due", ep["rps_at_knee"])
			}
			if single["first_broken_rate"] != "20" || single["rate_at_knee"] != "0" || !strings.Contains(single["how_it_broke"], "backlog") {
				t.Errorf("single: %v", single)
			}
			steps, err := locustcsv.ReadSteps(filepath.Join(out, "epoll_steps.csv"))
			if err != nil || len(steps) != 2 {
				t.Fatalf("epoll_steps.csv: %v, %d steps", err, len(steps))
			}
			for i, want := range []float64{20, 100} {
				s := steps[i]
				// The workers reported how they kept the schedule: the
				// window's due requests at about the rate, every user of
				// the pool engaged in turn.
				if s.TargetRate != want || !(s.Due >= want) || s.Engaged != 40 || s.Users != 40 {
					t.Errorf("epoll step %d: %+v", i+1, s)
				}
			}
			md, _ := os.ReadFile(filepath.Join(out, "report.md"))
			for _, want := range []string{"| model | generator | knee (req/s due) |", "The axis is the arrival rate",
				"single broke already at 20 req/s: queued in the backlog", "epoll kept up with every rate",
				"| rate due/s | users | RPS |", "a rate sweep of 20, 100 requests a second"} {
				if !strings.Contains(string(md), want) {
					t.Errorf("report.md lacks %q:\n%s", want, md)
				}
			}
			if b, _ := os.ReadFile(filepath.Join(out, "epoll.boomer-1.log")); !strings.Contains(string(b), "arrival rate") {
				t.Errorf("the worker's log has no arrival rate from the master:\n%s", b)
			}
		})
	}
}

// A pool too small for the rate: two SlowIOUsers (each request waits
// 100 ms in the server) on two workers, at 50 requests a second where
// they can answer 20. The master splits the rate by the users it gave
// each worker; the pool runs dry and the queue grows, and Locust's own
// times carry the wait, from when each request was due: a median of a
// second or more, where the server takes little more than its 100 ms.
func TestSweepRPSPoolDry(t *testing.T) {
	t.Parallel()
	target := testbin.Build(t, "serverlab/targets/cmd/target")
	testbin.Build(t, "serverlab/boomer/cmd/boomer")
	out := filepath.Join(t.TempDir(), "dry")
	var log strings.Builder
	code := runMain([]string{"--sweep-rps", "50", "--users", "2", "--spawn-rate", "2", "--workers", "2",
		"--user-class", "SlowIOUser", "--models", "epoll", "--run-time", "3s",
		"--bin", filepath.Dir(target), "--out", out}, io.Discard, &log)
	if code != 0 {
		t.Fatalf("lab run: exit %d\n%s\n%s", code, log.String(), logs(out))
	}
	k := kneeRows(t, out)["epoll"]
	if k == nil || k["first_broken_rate"] != "50" || !strings.Contains(k["how_it_broke"], "the pool of 2 users ran dry") {
		t.Fatalf("knee.csv: %v", k)
	}
	steps, err := locustcsv.ReadSteps(filepath.Join(out, "epoll_steps.csv"))
	if err != nil || len(steps) != 1 {
		t.Fatalf("epoll_steps.csv: %v, %d steps", err, len(steps))
	}
	if s := steps[0]; !(s.Median >= 1000) || !(s.Late > 0) || !(s.Backlog > 0) || s.Engaged != 2 || s.Workers != 2 {
		t.Errorf("step: %+v", s)
	}
	for w := 1; w <= 2; w++ {
		b, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("epoll.boomer-%d.log", w)))
		if !strings.Contains(string(b), `msg="arrival rate" step=1 rate=25`) {
			t.Errorf("worker %d was not sent half the rate:\n%s", w, b)
		}
	}
}

// Python workers cannot hold a rate: asking for them is refused in one
// line, before anything starts.
func TestSweepRPSRefusesPythonWorkers(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x")
	for _, args := range [][]string{
		{"--sweep-rps", "100", "--generator", "python"},
		{"--sweep-rps", "100", "--generator", "both"},
		{"--sweep-rps", "100", "--preset", "seeds"},
		{"--sweep-rps", "100", "--sweep", "10"},
		{"--sweep-rps", "0"},
		{"--sweep-rps", "fast"},
		{"--sweep-rps", "10,10"},
		{"--preset", "sweep-rps", "--generator", "python"},
	} {
		var errs strings.Builder
		code := runMain(append(args, "--out", out), io.Discard, &errs)
		if code != 2 || strings.Count(errs.String(), "\n") != 1 || !strings.HasPrefix(errs.String(), "lab run: ") {
			t.Errorf("%v: exit %d, %q", args, code, errs.String())
		}
		if strings.Contains(strings.Join(args, " "), "python") && !strings.Contains(errs.String(), "Python workers cannot hold an arrival rate") {
			t.Errorf("%v: %q", args, errs.String())
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v: %s made", args, out)
		}
	}
	f, err := parseRunFlags([]string{"--preset", "sweep-rps"})
	if err != nil || len(f.cfg.SweepRPS) != 3 || f.cfg.SweepRPS[2] != 100000 || f.cfg.Users != 1000 || f.cfg.Sweep != nil {
		t.Errorf("the sweep-rps preset: %+v, %v", f, err)
	}
}
