package main

import (
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// kneeRows reads OUT/knee.csv by run name.
func kneeRows(t *testing.T, out string) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(out, "knee.csv"))
	if err != nil {
		t.Fatalf("knee.csv: %v\n%s", err, logs(out))
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("knee.csv: %v, %d rows", err, len(recs))
	}
	rows := map[string]map[string]string{}
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, h := range recs[0] {
			row[h] = rec[i]
		}
		rows[row["run"]] = row
	}
	return rows
}

// realMasters builds bin/target and bin/boomer and finds both Locust
// versions; it returns bin/target's path.
func realMasters(t *testing.T) (target string, pinned, debian locusts.Locust) {
	t.Helper()
	target = testbin.Build(t, "serverlab/targets/cmd/target")
	testbin.Build(t, "serverlab/boomer/cmd/boomer")
	pinned, err := locusts.Pinned()
	if err != nil {
		t.Fatalf("the pinned Locust: %v (scripts/setup.sh makes .venv)", err)
	}
	debian, err = locusts.Debian()
	if err != nil {
		t.Fatalf("Debian's Locust: %v (scripts/setup.sh installs python3-locust)", err)
	}
	return target, pinned, debian
}

// A sweep on real masters of both Locust versions: every model gets a
// knee, and single, which serves one connection at a time, breaks first
// and by its backlog.
func TestSweepEndToEnd(t *testing.T) {
	t.Parallel()
	target, pinned, debian := realMasters(t)
	for _, c := range []struct {
		name, locust, models string
	}{
		{pinned.Version, pinned.Path, "epoll,thread,single"},
		{debian.Version, debian.Path, "epoll,single"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "sweep")
			var log strings.Builder
			code := runMain([]string{"--sweep", "5,40", "--models", c.models, "--run-time", "4s",
				"--locust", c.locust, "--bin", filepath.Dir(target), "--out", out}, io.Discard, &log)
			if code != 0 {
				t.Fatalf("lab run: exit %d\n%s\n%s", code, log.String(), logs(out))
			}
			knees := kneeRows(t, out)
			models := strings.Split(c.models, ",")
			if len(knees) != len(models) {
				t.Fatalf("knee.csv has %d rows for %d models: %v", len(knees), len(models), knees)
			}
			for _, m := range models {
				k := knees[m]
				if k == nil {
					t.Fatalf("knee.csv has no %s: %v", m, knees)
				}
				if m == "single" {
					if k["first_broken_users"] != "5" || k["users_at_knee"] != "0" || !strings.Contains(k["how_it_broke"], "backlog") {
						t.Errorf("single: %v", k)
					}
					continue
				}
				// Every other model holds a connection per user: served at
				// both steps, so single broke first.
				if k["users_at_knee"] != "40" || k["first_broken_users"] != "" {
					t.Errorf("%s: %v", m, k)
				}
				if rps, _ := strconv.ParseFloat(k["rps_at_knee"], 64); !(rps > 0) {
					t.Errorf("%s: no RPS at the knee: %v", m, k)
				}
			}
			md, _ := os.ReadFile(filepath.Join(out, "report.md"))
			for _, want := range []string{"## The knee", "single broke already at 5 users", "epoll served every step", "### epoll (go generator)", "a sweep of 5, 40 LabUser users"} {
				if !strings.Contains(string(md), want) {
					t.Errorf("report.md lacks %q:\n%s", want, md)
				}
			}
			for _, m := range models {
				for _, f := range []string{"_steps.csv", "_server.csv"} {
					if b, err := os.ReadFile(filepath.Join(out, m+f)); err != nil || strings.Count(string(b), "\n") < 2 {
						t.Errorf("%s%s: %v, %q", m, f, err, b)
					}
				}
			}
		})
	}
}

// Locust's own Python workers as the generator, beside the Go worker: the
// report sets the two side by side and says when a step measured the
// generator: HammerUsers on one Python process saturate its core long
// before the server is busy.
func TestSweepGenerators(t *testing.T) {
	target := testbin.Build(t, "serverlab/targets/cmd/target")
	testbin.Build(t, "serverlab/boomer/cmd/boomer")
	out := filepath.Join(t.TempDir(), "both")
	var log strings.Builder
	code := runMain([]string{"--sweep", "20", "--generator", "both", "--user-class", "HammerUser", "--models", "epoll",
		"--run-time", "6s", "--bin", filepath.Dir(target), "--out", out}, io.Discard, &log)
	if code != 0 {
		t.Fatalf("lab run: exit %d\n%s\n%s", code, log.String(), logs(out))
	}
	knees := kneeRows(t, out)
	goRun, py := knees["epoll-go"], knees["epoll-python"]
	if goRun == nil || py == nil || goRun["generator"] != "go" || py["generator"] != "python" {
		t.Fatalf("knee.csv: %v", knees)
	}
	if py["generator_bound_at_users"] != "20" {
		t.Errorf("the Python run is not flagged generator-bound: %v", py)
	}
	goRPS, _ := strconv.ParseFloat(goRun["rps_at_knee"], 64)
	pyRPS, _ := strconv.ParseFloat(py["rps_at_knee"], 64)
	if !(goRPS > pyRPS) {
		t.Errorf("Go %v req/s, Python %v", goRPS, pyRPS)
	}
	if _, err := os.Stat(filepath.Join(out, "epoll-python.worker-1.log")); err != nil {
		t.Errorf("no Python worker log: %v", err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, want := range []string{"### epoll-python (python generator)", "the python generator was the limit", "(generator-bound)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
}

// The seeds preset's runs, each model by both generators at both ramps,
// set beside the course's tables in the report.
func TestSeedsPreset(t *testing.T) {
	t.Parallel()
	target := testbin.Build(t, "serverlab/targets/cmd/target")
	testbin.Build(t, "serverlab/boomer/cmd/boomer")
	out := filepath.Join(t.TempDir(), "seeds")
	var log strings.Builder
	code := runMain([]string{"--preset", "seeds", "--models", "single,epoll", "--users", "20", "--run-time", "3s",
		"--bin", filepath.Dir(target), "--out", out}, io.Discard, &log)
	if code != 0 {
		t.Fatalf("lab run: exit %d\n%s\n%s", code, log.String(), logs(out))
	}
	if !strings.Contains(log.String(), "lab: 8 runs (2 models)") {
		t.Errorf("console:\n%s", log.String())
	}
	for _, name := range []string{"single-go-ramp100", "single-go-ramp1000", "single-python-ramp100", "epoll-python-ramp1000"} {
		if _, err := os.Stat(filepath.Join(out, name+"_stats.csv")); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, want := range []string{"## Beside the course's numbers", "### Report A (100 users a second)", "### Report B (1000 users a second)",
		"| single (single process) | 14362 | 350.1 | 748 |", "| select (select) | 26316 | 946.8 | 77 | - |",
		"- The course ranked them by RPS: select 947 > process 768 > thread 535 > single 350.", "- serverlab with the Go worker: ",
		"- serverlab with Python workers: ", "single held 1 of the users' connections", "| epoll (not in the course) | - | - | - | "} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	page, _ := os.ReadFile(filepath.Join(out, "report.html"))
	if !strings.Contains(string(page), "<h2>Beside the course&#39;s numbers</h2>") {
		t.Errorf("report.html has no seeds section")
	}
}

// Debian's Locust 2.12.1 refuses its own Python workers (they report an
// empty version): `--generator python` against it runs the same version
// from PyPI (.venv-locust-2.12.1, made by scripts/setup.sh) as workers, and
// their requests reach the master's CSV.
func TestPythonWorkersWithDebianLocust(t *testing.T) {
	t.Parallel()
	target := testbin.Build(t, "serverlab/targets/cmd/target")
	testbin.Build(t, "serverlab/boomer/cmd/boomer")
	debian, err := locusts.Debian()
	if err != nil {
		t.Fatalf("Debian's Locust: %v (scripts/setup.sh installs python3-locust)", err)
	}
	if _, err := locusts.DebianWorkers(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "debian")
	var log strings.Builder
	code := runMain([]string{"--generator", "python", "--models", "epoll", "--locust", debian.Path,
		"--users", "5", "--spawn-rate", "5", "--run-time", "4s", "--bin", filepath.Dir(target), "--out", out}, io.Discard, &log)
	if code != 0 {
		t.Fatalf("lab run: exit %d\n%s\n%s", code, log.String(), logs(out))
	}
	_, rows := testbin.CSV(t, filepath.Join(out, "epoll_stats.csv"))
	for _, r := range rows {
		if r["Name"] == "Aggregated" && (r["Request Count"] == "0" || r["Failure Count"] != "0") {
			t.Errorf("Python workers under Debian's master: %v", r)
		}
	}
	mlog, _ := os.ReadFile(filepath.Join(out, "epoll.locust.log"))
	if !strings.Contains(string(mlog), "reported as ready") || strings.Contains(string(mlog), "pre 2.0") {
		t.Errorf("the master's log:\n%s", mlog)
	}
}
