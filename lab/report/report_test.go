package report

import (
	"bytes"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in lab/testdata/golden")

const testdata = "../testdata"

func fixtureReport(t *testing.T, ver string) *Report {
	t.Helper()
	runs, err := ReadRuns([]string{filepath.Join(testdata, "locust-"+ver)})
	if err != nil {
		t.Fatal(err)
	}
	return Build(runs)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(testdata, "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestGolden(t *testing.T) {
	for _, ver := range []string{"2.12.1", "2.47.0"} {
		r := fixtureReport(t, ver)
		var md, csv, js bytes.Buffer
		if err := r.Markdown(&md); err != nil {
			t.Fatal(err)
		}
		if err := r.CSV(&csv); err != nil {
			t.Fatal(err)
		}
		if err := r.JSON(&js, nil); err != nil {
			t.Fatal(err)
		}
		golden(t, ver+".md", md.Bytes())
		golden(t, ver+".csv", csv.Bytes())
		golden(t, ver+".json", js.Bytes())
	}
	cmp := Compare(fixtureReport(t, "2.12.1"), fixtureReport(t, "2.47.0"), 5)
	var md, csv, js bytes.Buffer
	if err := cmp.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := cmp.CSV(&csv); err != nil {
		t.Fatal(err)
	}
	if err := fixtureReport(t, "2.12.1").JSON(&js, cmp); err != nil {
		t.Fatal(err)
	}
	golden(t, "baseline.md", md.Bytes())
	golden(t, "baseline.csv", csv.Bytes())
	golden(t, "baseline.json", js.Bytes())
}

func TestSortedAndBest(t *testing.T) {
	r := fixtureReport(t, "2.47.0")
	for i := 1; i < len(r.Rows); i++ {
		if r.Rows[i].RPS > r.Rows[i-1].RPS {
			t.Fatalf("rows not by RPS: %v then %v", r.Rows[i-1].RPS, r.Rows[i].RPS)
		}
	}
	rows := []Row{{Model: "a", RPS: 10}, {Model: "b", RPS: 30}, {Model: "c", RPS: 30}}
	c := column{"RPS", +1, func(x Row) float64 { return x.RPS }, fixed(1)}
	if got := best(rows, c); got[0] || !got[1] || !got[2] {
		t.Errorf("best RPS marks %v, want the two 30s", got)
	}
	c = column{"p95", -1, func(x Row) float64 { return x.P95 }, ms}
	if got := best(rows, c); got[0] || got[1] || got[2] {
		t.Errorf("all equal: marks %v, want none", got)
	}
}

func TestCompareGate(t *testing.T) {
	rep := func(rps, p95 float64) *Report {
		return &Report{Rows: []Row{{Model: "m", RPS: rps, P95: p95}}}
	}
	tests := []struct {
		name      string
		base, now *Report
		max       float64
		regressed bool
		why       string
	}{
		{"same", rep(100, 10), rep(100, 10), 10, false, ""},
		{"rps -9%", rep(100, 10), rep(91, 10), 10, false, ""},
		{"rps -11%", rep(100, 10), rep(89, 10), 10, true, "RPS 100.0 -> 89.0 (-11.0%)"},
		{"p95 +20%", rep(100, 10), rep(120, 12), 10, true, "p95 10 -> 12 ms (+20.0%)"},
		{"p95 down", rep(100, 10), rep(100, 5), 10, false, ""},
		{"zero baseline", rep(0, 0), rep(50, 10), 10, false, ""},
		{"both", rep(100, 10), rep(50, 20), 10, true, "RPS 100.0 -> 50.0 (-50.0%), p95 10 -> 20 ms (+100.0%)"},
		{"looser limit", rep(100, 10), rep(50, 20), 200, false, ""},
	}
	for _, tt := range tests {
		c := Compare(tt.now, tt.base, tt.max)
		d := c.Deltas[0]
		if d.Regressed != tt.regressed || d.Why != tt.why {
			t.Errorf("%s: regressed %v %q, want %v %q", tt.name, d.Regressed, d.Why, tt.regressed, tt.why)
		}
		if got := len(c.Regressions()); got != map[bool]int{false: 0, true: 1}[tt.regressed] {
			t.Errorf("%s: %d regression lines", tt.name, got)
		}
	}
	// A new model is listed; one of the baseline's that is gone regressed.
	c := Compare(&Report{Rows: []Row{{Model: "new", RPS: 1}}}, &Report{Rows: []Row{{Model: "old", RPS: 1}}}, 10)
	regs := c.Regressions()
	if len(c.Deltas) != 2 || c.Deltas[0].status() != "new" || c.Deltas[1].status() != "missing now" ||
		len(regs) != 1 || regs[0] != "old: in the baseline, missing now" {
		t.Errorf("one-sided deltas %+v, regressions %q", c.Deltas, regs)
	}
}

func TestHTMLSelfContained(t *testing.T) {
	r := fixtureReport(t, "2.47.0")
	var b bytes.Buffer
	if err := r.HTML(&b, "t <&>", Compare(r, fixtureReport(t, "2.12.1"), 10)); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<script src", "<link", "src=\"http", "cdn", "<title>t <&></title>"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	// ECharts is in the page, and draws every chart.
	for want, n := range map[string]int{"echarts.init(": 4, "Licensed to the Apache Software Foundation": 1, "Against the baseline": 1, `class="best"`: 1} {
		if got := strings.Count(page, want); (n == 0 && got != 0) || (n > 0 && got < n) {
			t.Errorf("%q appears %d times, want %d", want, got, n)
		}
	}
	// Debian's history has no rows to draw; the charts say so.
	var old bytes.Buffer
	if err := fixtureReport(t, "2.12.1").HTML(&old, "old", nil); err != nil {
		t.Fatal(err)
	}
	if strings.Count(old.String(), "no history rows to draw") != 2 {
		t.Errorf("2.12.1 page does not say its history is empty")
	}
}

func TestPNGs(t *testing.T) {
	dir := t.TempDir()
	paths, err := fixtureReport(t, "2.47.0").WritePNGs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 4 {
		t.Fatalf("%d PNGs", len(paths))
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if b := img.Bounds(); b.Dx() != chartW || b.Dy() != chartH {
			t.Errorf("%s: %v", p, b)
		}
		// Each series' colour is drawn somewhere.
		found := false
		for y := 0; y < chartH && !found; y++ {
			for x := 0; x < chartW; x++ {
				if r, g, b, _ := img.At(x, y).RGBA(); r>>8 == uint32(palette[0].R) && g>>8 == uint32(palette[0].G) && b>>8 == uint32(palette[0].B) {
					found = true
					break
				}
			}
		}
		if !found {
			t.Errorf("%s: no first-series colour", p)
		}
	}
}

func TestWriteDir(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(testdata, "locust-2.47.0")
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
	}
	if err := WriteDir(dir, []string{"epoll", "single"}); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| epoll |") || strings.Contains(string(md), "| thread |") {
		t.Errorf("report.md:\n%s", md)
	}
	for _, f := range []string{"report.html", "rps.png", "latency.png", "rps-over-time.png", "p95-over-time.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if err := WriteDir(dir, []string{"nope"}); err == nil || !strings.Contains(err.Error(), "nope_stats.csv: missing") {
		t.Errorf("missing model: %v", err)
	}
}

// A lab run folder's meta.json adds what each server paid; a bad one is
// named, and a plain Locust export simply has no such table.
func TestServerTableFromMeta(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(testdata, "locust-2.47.0")
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
	}
	meta := `{"runs": [
	  {"model": "epoll", "target_peaks": {"serverlab_connections_active": 1000, "serverlab_os_threads": 7,
	    "serverlab_resident_memory_bytes": 25165824, "serverlab_open_fds": 1016},
	   "target_final": {"serverlab_connections_accepted_total": 1000, "serverlab_accept_errors_total{errno=\"EMFILE\"}": 3},
	   "target_cpu": {"seconds": 6.5, "over_seconds": 65}},
	  {"model": "single", "target_peaks": {"serverlab_connections_active": 1}}]}`
	os.WriteFile(filepath.Join(dir, "meta.json"), []byte(meta), 0o644)
	if err := WriteDir(dir, []string{"epoll", "single"}); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{
		"| epoll | 1000 | 1000 | 7 | 0 | 24.0 | 1016 | 6.5 | 10.0 | 3 |",
		"| single | 0 | 1 | 0 | 0 | 0.0 | 0 | - | - | 0 |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "cpu.png")); err != nil || !strings.Contains(string(md), "(cpu.png)") {
		t.Errorf("no CPU chart: %v", err)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(page), "<td>6.5</td><td>10.0</td>") {
		t.Errorf("report.html has no server table")
	}

	r := fixtureReport(t, "2.47.0")
	if err := r.LoadServers(); err != nil || len(r.Servers) != 0 {
		t.Errorf("plain export: servers %v, err %v", r.Servers, err)
	}
	os.WriteFile(filepath.Join(dir, "meta.json"), []byte(`{"runs": [`), 0o644)
	if err := WriteDir(dir, []string{"epoll"}); err == nil || !strings.Contains(err.Error(), "meta.json") {
		t.Errorf("truncated meta.json: %v", err)
	}
}
