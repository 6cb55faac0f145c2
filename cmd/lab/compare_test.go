package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const labTestdata = "../../lab/testdata"

func compareRun(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = compareMain(args, &o, &e)
	return code, o.String(), e.String()
}

func TestCompareOutputs(t *testing.T) {
	newer := filepath.Join(labTestdata, "locust-2.47.0")
	older := filepath.Join(labTestdata, "locust-2.12.1")
	for _, f := range []string{"md", "csv", "json"} {
		code, out, errs := compareRun(older, "--format", f)
		if code != 0 || errs != "" {
			t.Fatalf("--format %s: exit %d, %s", f, code, errs)
		}
		want, err := os.ReadFile(filepath.Join(labTestdata, "golden", "2.12.1."+f))
		if err != nil {
			t.Fatal(err)
		}
		if out != string(want) {
			t.Errorf("--format %s:\n%s\nwant the golden file:\n%s", f, out, want)
		}
	}

	// Flags after and before folders; regression beyond 5%: exit 1, named.
	code, out, errs := compareRun("--max-regression", "5%", older, "--baseline", newer, "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, errs)
	}
	if lines := strings.Split(strings.TrimSpace(errs), "\n"); len(lines) != 1 ||
		!strings.HasPrefix(lines[0], "lab compare: regression: epoll: RPS 446.6 -> 412.8 (-7.6%)") {
		t.Errorf("stderr %q", errs)
	}
	var doc struct {
		Baseline struct{ Deltas []struct{ Regressed bool } }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Baseline.Deltas) != 3 {
		t.Errorf("json %v: %s", err, out)
	}
	// Within 10%: exit 0, the deltas under the table.
	code, out, errs = compareRun(older, "--baseline", newer)
	if code != 0 || !strings.Contains(out, "Against the baseline") || errs != "" {
		t.Errorf("exit %d, stderr %q, out %s", code, errs, out)
	}

	dir := t.TempDir()
	page := filepath.Join(dir, "r.html")
	if code, _, errs := compareRun(newer, "--html", page, "--png", filepath.Join(dir, "png")); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if b, err := os.ReadFile(page); err != nil || !bytes.Contains(b, []byte("echarts.init(")) {
		t.Errorf("html: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "png", "*.png")); len(m) != 4 {
		t.Errorf("PNGs %v", m)
	}
}

func TestCompareBadInput(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{nil, "lab compare: no DIR to compare (lab compare --help)"},
		{[]string{"--format", "xml", labTestdata + "/locust-2.47.0"}, `--format "xml": want md, csv or json`},
		{[]string{"--max-regression", "lots", "x"}, `--max-regression "lots"`},
		{[]string{"--nope", "x"}, "flag provided but not defined: -nope"},
		{[]string{empty}, "no *_stats.csv in this folder"},
		{[]string{filepath.Join(empty, "x")}, "no such folder"},
		{[]string{labTestdata + "/locust-2.47.0", "--baseline", empty}, "lab compare: baseline: "},
		{[]string{labTestdata + "/locust-2.47.0", labTestdata + "/locust-2.47.0"}, "given twice"},
	}
	for _, tt := range tests {
		code, out, errs := compareRun(tt.args...)
		if code != 2 || out != "" || !strings.Contains(errs, tt.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", tt.args, code, out, errs, tt.want)
		}
	}
}

func TestCompareSameNamesFromTwoFolders(t *testing.T) {
	code, out, errs := compareRun(labTestdata+"/locust-2.47.0", labTestdata+"/locust-2.12.1", "--format", "csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"\nlocust-2.47.0/epoll,", "\nlocust-2.12.1/single,"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

func TestDispatch(t *testing.T) {
	var o, e bytes.Buffer
	if code := dispatch([]string{"frobnicate"}, &o, &e); code != 2 || !strings.Contains(e.String(), `unknown command "frobnicate"`) {
		t.Errorf("exit %d, %q", code, e.String())
	}
	o.Reset()
	if code := dispatch([]string{"help"}, &o, &e); code != 0 || !strings.Contains(o.String(), "compare") {
		t.Errorf("help: exit %d, %q", code, o.String())
	}
	o.Reset()
	if code := dispatch([]string{"compare", "--help"}, &o, &e); code != 0 || !strings.Contains(o.String(), "--max-regression") {
		t.Errorf("compare --help: exit %d", code)
	}
}

func TestReportRewritesAFolder(t *testing.T) {
	dir := t.TempDir()
	ents, err := os.ReadDir(filepath.Join(labTestdata, "locust-2.12.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(labTestdata, "locust-2.12.1", e.Name()))
		os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
	}
	var o, e bytes.Buffer
	if code := dispatch([]string{"report", dir}, &o, &e); code != 0 {
		t.Fatalf("exit %d: %s", code, e.String())
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil || !strings.Contains(string(md), "| epoll |") || !strings.Contains(string(md), "(latency.png)") {
		t.Errorf("report.md: %v\n%s", err, md)
	}
	for _, bad := range [][]string{{"report"}, {"report", dir, dir}, {"report", filepath.Join(dir, "nope")}, {"report", t.TempDir()}} {
		e.Reset()
		if code := dispatch(bad, &o, &e); code != 2 || strings.Count(e.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, %q", bad, code, e.String())
		}
	}
}
