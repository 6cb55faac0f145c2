package report

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"serverlab/lab/locustcsv"
)

func step(users, requests, failures int, p95 float64) locustcsv.Step {
	return locustcsv.Step{Users: users, TargetUsers: users, Requests: requests, Failures: failures,
		RPS: float64(requests) / 10, P95: p95, Median: p95 / 2, P99: p95, Start: 100, End: 110}
}

func server(active, emfile, cpu float64) StepServer {
	nan := math.NaN()
	return StepServer{CPU: cpu, Active: active, EMFILE: emfile, RSSMiB: 20, Threads: nan, Children: nan,
		FDs: nan, Shed: nan, GeneratorCPU: nan, MasterCPU: nan, LoadBusy: nan}
}

// Each way a step breaks is named, the server's evidence first, and the
// knee is the last step served before the first broken one.
func TestKnee(t *testing.T) {
	sl := DefaultServiceLevel
	for _, c := range []struct {
		name  string
		steps []StepRow
		fails []locustcsv.StepFailure
		knee  int
		broke int
		how   string
	}{
		{"never broke", []StepRow{{Step: step(10, 100, 0, 5), Server: server(10, 0, 1)},
			{Step: step(100, 1000, 0, 8), Server: server(100, 0, 5)}}, nil, 100, 0, ""},
		{"backlog", []StepRow{{Step: step(10, 100, 0, 5), Server: server(1, 0, 1)}}, nil, 0, 10,
			"queued in the backlog: the server held 1 connection for 10 users"},
		{"EMFILE then timeouts", []StepRow{{Step: step(100, 1000, 0, 5), Server: server(100, 0, 1)},
			{Step: step(2000, 1000, 300, 5000), Server: server(1000, 57, 3)}},
			[]locustcsv.StepFailure{{Step: 2, Error: "ReadTimeout('timed out')", Occurrences: 290},
				{Step: 2, Error: "ConnectionRefusedError(111, 'Connection refused')", Occurrences: 10}},
			100, 2000, "EMFILE: the server ran out of descriptors (57 accepts failed); queued in the backlog: the server held 1000 connections for 2000 users; 30.0 % failed (timeouts 290, refused 10); p95 5000 ms"},
		{"turned away (select past FD_SETSIZE)", []StepRow{{Step: step(1000, 1000, 0, 50), Server: server(1000, 0, 3)},
			{Step: step(2000, 2000, 1000, 400), Server: server(1004, 0, 10)}},
			[]locustcsv.StepFailure{{Step: 2, Error: "ConnectionResetError(104, 'Connection reset by peer')", Occurrences: 600},
				{Step: 2, Error: "RemoteDisconnected('Remote end closed connection without response')", Occurrences: 400}},
			1000, 2000, "turned away: the server held 1004 connections for 2000 users and closed the others' connections; 50.0 % failed (reset 600, closed 400)"},
		{"slow", []StepRow{{Step: step(10, 100, 0, 5), Server: server(10, 0, 1)},
			{Step: step(100, 1000, 0, 1500), Server: server(100, 0, 99)}}, nil, 10, 100, "p95 1500 ms"},
		{"nothing finished", []StepRow{{Step: step(10, 0, 0, math.NaN()), Server: server(math.NaN(), 0, 0)}}, nil, 0, 10,
			"no request finished in the window"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sr := SweepRun{Name: "m", Model: "m", Generator: "go"}
			for i, row := range c.steps {
				row.Step.Step = i + 1
				judge(&row, c.fails, sl)
				sr.Steps = append(sr.Steps, row)
			}
			k := kneeOf(&sr)
			if k.Users != c.knee || k.BrokeAt != c.broke || k.How != c.how {
				t.Errorf("knee %d, broke at %d, how %q; want %d, %d, %q", k.Users, k.BrokeAt, k.How, c.knee, c.broke, c.how)
			}
			if k.Sentence == "" || !strings.HasPrefix(k.Sentence, "m ") {
				t.Errorf("sentence %q", k.Sentence)
			}
		})
	}
}

// A step run while something else kept the load CPUs busy is marked
// disturbed, and a break the larger steps do not confirm is said to be
// one: the sentence tells the reader to measure again.
func TestDisturbedAndServedAgain(t *testing.T) {
	busy := func(active, load, gen float64) StepServer {
		s := server(active, 0, 3)
		s.LoadBusy, s.GeneratorCPU, s.MasterCPU = load, gen, 2
		return s
	}
	sr := SweepRun{Name: "thread", Model: "thread", Generator: "go"}
	for i, row := range []StepRow{
		{Step: step(100, 1000, 0, 80), Server: busy(100, 40, 5)},
		{Step: step(1000, 9000, 0, 1400), Server: busy(1000, 100, 5)},
		{Step: step(2000, 19000, 0, 320), Server: busy(2000, 99, 10)},
		{Step: step(5000, 49000, 0, 82), Server: busy(5000, 97, 60)},
	} {
		row.Step.Step = i + 1
		judge(&row, nil, DefaultServiceLevel)
		sr.Steps = append(sr.Steps, row)
	}
	if got := []bool{sr.Steps[0].Disturbed, sr.Steps[1].Disturbed, sr.Steps[2].Disturbed, sr.Steps[3].Disturbed}; got[0] || !got[1] || !got[2] || got[3] {
		t.Errorf("disturbed %v; want the two steps whose load CPUs others kept busy (the last one's generator was itself busy)", got)
	}
	k := kneeOf(&sr)
	if k.Users != 100 || k.BrokeAt != 1000 || len(k.ServedAfter) != 2 || k.ServedAfter[1] != 5000 || k.Disturbed != 2 {
		t.Fatalf("knee %d, broke at %d, served after %v, disturbed %d", k.Users, k.BrokeAt, k.ServedAfter, k.Disturbed)
	}
	for _, want := range []string{"within the service level again at 2000 users, 5000 users", "2 of its 4 steps ran while other processes kept the load generators' CPUs busy (up to 100 %"} {
		if !strings.Contains(k.Sentence, want) {
			t.Errorf("sentence %q lacks %q", k.Sentence, want)
		}
	}
	r := &Report{Sweeps: []SweepRun{{Name: sr.Name, Model: sr.Model, Generator: sr.Generator, Steps: sr.Steps, Knee: k}}}
	var b strings.Builder
	if err := r.KneeCSV(&b); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); !strings.HasSuffix(lines[0], ",served_after_break,disturbed_steps") || !strings.HasSuffix(lines[1], ",2000 5000,2") {
		t.Errorf("knee.csv:\n%s", b.String())
	}
	if v := stepTable(r.Sweeps[0])[2]; !strings.HasSuffix(v[len(v)-1], "(disturbed)") {
		t.Errorf("verdict %q does not say the step was disturbed", v[len(v)-1])
	}
}

func TestGeneratorBound(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		gen, wait, load, server float64
		want                    bool
	}{
		{98, nan, nan, 5, true},     // the generator's core full, the server idle
		{98, nan, nan, 90, false},   // both busy: the server is measured too
		{40, nan, 97, 5, true},      // the generator's CPUs saturated by anything
		{68, nan, 60, 5, true},      // starved of a core, yet busier than the server many times
		{30, nan, 40, 5, false},     // a light load: nobody is the limit
		{17, 80, 100, 0.5, true},    // starved by other processes: it ran or waited to run all along
		{11, 78, 100, 0.3, true},    // starved, blocked now and then on a server starved too, many times its demand
		{17, 80, 100, 90, false},    // starved, but the server was busy too
		{11, 78, 100, 30, false},    // starved, the server's CPU not far below
		{3, 10, 100, 1, false},      // idle on a busy machine: its waits are short
		{nan, nan, nan, nan, false}, // nothing known
	} {
		if got := generatorBound(c.gen, c.wait, c.load, c.server); got != c.want {
			t.Errorf("generatorBound(%v, %v, %v, %v) = %v", c.gen, c.wait, c.load, c.server, got)
		}
	}
}

// A step's server figures are its window's: peaks inside it, the CPU
// time's rate over it, counters from the last sample before it.
func TestWindow(t *testing.T) {
	nan := math.NaN()
	mk := func(at, cpu, active, emfile float64) locustcsv.TargetSample {
		return locustcsv.TargetSample{Time: at, Answered: true, CPUSeconds: cpu, Active: active, EMFILE: emfile,
			RSS: 1 << 20, Threads: 7, Children: 0, OpenFDs: active + 10, Shed: nan, CPU: nan,
			WorkerCPUSeconds: at / 2, WorkerWaitSeconds: at / 4, MasterCPUSeconds: nan, LoadBusySeconds: at * 0.95, LoadSeconds: at}
	}
	samples := []locustcsv.TargetSample{mk(98, 1, 5, 3), mk(100, 2, 50, 3), mk(105, 4, 60, 10), mk(110, 7, 40, 20), mk(115, 100, 999, 99)}
	s := window(samples, 99, 110)
	if s.Active != 60 || s.EMFILE != 17 || s.RSSMiB != 1 || s.FDs != 70 {
		t.Errorf("gauges %+v", s)
	}
	if math.Abs(s.CPU-50) > 0.01 || math.Abs(s.GeneratorCPU-50) > 0.01 || math.Abs(s.LoadBusy-95) > 0.01 {
		t.Errorf("CPU %v %%, generator %v %%, load CPUs %v %%", s.CPU, s.GeneratorCPU, s.LoadBusy)
	}
	if math.Abs(s.GeneratorWait-25) > 0.01 {
		t.Errorf("generator waited %v %% of the window, want 25", s.GeneratorWait)
	}
	if empty := window(nil, 0, 1); !math.IsNaN(empty.CPU) || !math.IsNaN(empty.Active) {
		t.Errorf("no samples: %+v", empty)
	}
}

func TestMedianSpread(t *testing.T) {
	if m, s := medianSpread([]float64{100, 80, 120}); m != 100 || s != 40 {
		t.Errorf("median %v spread %v", m, s)
	}
	if m, _ := medianSpread([]float64{1, 2, 3, 4}); m != 2.5 {
		t.Errorf("median %v", m)
	}
}

// A folder of --repeat runs: one row per model with the median and the
// spread of its runs.
func TestRepeatsInReport(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(testdata, "locust-2.47.0")
	for _, name := range []string{"epoll-run1", "epoll-run2", "epoll-run3"} {
		for _, s := range []string{"_stats.csv", "_stats_history.csv", "_failures.csv"} {
			b, err := os.ReadFile(filepath.Join(src, "epoll"+s))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, name+s), b, 0o644)
		}
	}
	meta := `{"parameters": {"users": 30, "spawn_rate": 10, "run_time": "5s", "user_class": "LabUser", "repeat": 3},
	  "locust": {"version": "2.47.0"},
	  "runs": [{"model": "epoll", "name": "epoll-run1", "repeat": 1}, {"model": "epoll", "name": "epoll-run2", "repeat": 2},
	  {"model": "epoll", "name": "epoll-run3", "repeat": 3}]}`
	os.WriteFile(filepath.Join(dir, "meta.json"), []byte(meta), 0o644)
	if err := WriteDir(dir, []string{"epoll-run1", "epoll-run2", "epoll-run3"}); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.Contains(string(md), "## Repeatability") || !strings.Contains(string(md), "| epoll | 3 | ") {
		t.Errorf("report.md:\n%s", md)
	}
}

// The master's own CPU warning, as 2.47.0 logs it, is noticed.
func TestMasterWarnedCPU(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m")
	os.WriteFile(p+".locust.log", []byte("[2026-12-01 15:22:15,348] vm/WARNING/locust.runners: Worker vm_1 (index 0) exceeded cpu threshold (will only log this once per worker)\n"), 0o644)
	if !masterWarnedCPU(p) {
		t.Error("warning not seen")
	}
	if masterWarnedCPU(filepath.Join(t.TempDir(), "none")) {
		t.Error("a missing log warned")
	}
}
