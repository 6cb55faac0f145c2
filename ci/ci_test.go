// Package ci holds the CI recipe (lab-gate.sh, the GitHub Actions workflow
// that runs it, and the baseline it gates against); its tests run the script
// as a CI would.
package ci

import (
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"serverlab/internal/repo"
)

func root(t *testing.T) string {
	t.Helper()
	r, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// workflow is the part of a GitHub Actions workflow the recipe uses; decoded
// strictly, so a misspelt key fails.
type workflow struct {
	Name string         `json:"name"`
	On   map[string]any `json:"on"`
	Jobs map[string]struct {
		RunsOn         string `json:"runs-on"`
		TimeoutMinutes int    `json:"timeout-minutes"`
		Steps          []struct {
			Name string            `json:"name,omitempty"`
			Uses string            `json:"uses,omitempty"`
			Run  string            `json:"run,omitempty"`
			If   string            `json:"if,omitempty"`
			With map[string]string `json:"with,omitempty"`
		} `json:"steps"`
	} `json:"jobs"`
}

// TestWorkflowRunsTheScript: the GitHub workflow is the plain script plus
// the toolchains and the artifact upload, so that both recipes stay one.
func TestWorkflowRunsTheScript(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), ".github/workflows/lab-gate.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.UnmarshalStrict(b, &w); err != nil {
		t.Fatalf("lab-gate.yml: %v", err)
	}
	script, err := os.ReadFile(filepath.Join(root(t), "ci/lab-gate.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^OUT=\$\{LAB_OUT:-([^}]+)\}`).FindSubmatch(script)
	if m == nil {
		t.Fatal("lab-gate.sh: no OUT=${LAB_OUT:-...} default")
	}
	out := string(m[1])
	job, ok := w.Jobs["lab-gate"]
	if !ok {
		t.Fatalf("no job lab-gate: %v", w.Jobs)
	}
	runs, uploads, goSetup := 0, 0, false
	for _, s := range job.Steps {
		if s.Uses != "" && !regexp.MustCompile(`^[\w.-]+/[\w.-]+@v\d+$`).MatchString(s.Uses) {
			t.Errorf("step uses %q: want owner/action@vN", s.Uses)
		}
		switch {
		case s.Run != "":
			runs++
			if strings.TrimSpace(s.Run) != "ci/lab-gate.sh" {
				t.Errorf("step %q runs %q; every step belongs in ci/lab-gate.sh", s.Name, s.Run)
			}
		case strings.HasPrefix(s.Uses, "actions/upload-artifact@"):
			uploads++
			if s.If != "always()" {
				t.Errorf("upload step: if %q, want always() (a failed gate is when the report matters)", s.If)
			}
			if filepath.Clean(s.With["path"]) != filepath.Clean(out) {
				t.Errorf("upload path %q, the script writes to %q", s.With["path"], out)
			}
		case strings.HasPrefix(s.Uses, "actions/setup-go@"):
			goSetup = s.With["go-version-file"] == "go.mod"
		}
	}
	if runs != 1 || uploads != 1 || !goSetup {
		t.Errorf("want one run step, one upload, setup-go from go.mod: %d, %d, %v", runs, uploads, goSetup)
	}
}

// runGate runs the script with env added to the test's own.
func runGate(t *testing.T, env ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root(t), "ci/lab-gate.sh"))
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("lab-gate.sh: %v", err)
		}
		code = ee.ExitCode()
	}
	return string(b), code
}

// TestLabGate runs the recipe as CI does, against the committed baseline (it
// passes); then makes a baseline of its own, as LAB_UPDATE_BASELINE does,
// makes its epoll three times as fast, and expects the gate to fail naming
// the model.
func TestLabGate(t *testing.T) {
	if _, err := os.Stat(filepath.Join(root(t), ".venv/bin/locust")); err != nil {
		t.Fatalf("no .venv/bin/locust (run scripts/setup.sh): %v", err)
	}
	tmp := t.TempDir()
	out := filepath.Join(tmp, "run")
	log, code := runGate(t, "LAB_OUT="+out)
	if code != 0 || !strings.Contains(log, "== gate passed") {
		t.Fatalf("against ci/baseline: exit %d\n%s", code, log)
	}
	for _, f := range []string{"report.md", "report.html", "epoll_stats.csv", "epoll_stats_history.csv", "meta.json", "gate.md"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("artifact %s: %v", f, err)
		}
	}
	if gate, _ := os.ReadFile(filepath.Join(out, "gate.md")); !regexp.MustCompile(`(?m)^\| epoll \|.*\| ok \|$`).Match(gate) {
		t.Errorf("gate.md has no ok row for epoll:\n%s", gate)
	}

	faster := filepath.Join(tmp, "faster")
	one := []string{"LAB_MODELS=epoll", "LAB_RUN_TIME=5s", "LAB_BASELINE=" + faster}
	log, code = runGate(t, append(one, "LAB_UPDATE_BASELINE=1", "LAB_OUT="+filepath.Join(tmp, "run2"))...)
	if code != 0 || !strings.Contains(log, "== baseline updated") {
		t.Fatalf("LAB_UPDATE_BASELINE=1: exit %d\n%s", code, log)
	}
	for _, f := range []string{"meta.json", "epoll_stats.csv", "epoll_stats_history.csv", "epoll_failures.csv"} {
		if _, err := os.Stat(filepath.Join(faster, f)); err != nil {
			t.Errorf("the new baseline: %v", err)
		}
	}
	scaleRPS(t, filepath.Join(faster, "epoll_stats.csv"), 3)
	log, code = runGate(t, append(one, "LAB_OUT="+filepath.Join(tmp, "run3"))...)
	if code != 1 || !strings.Contains(log, "== gate FAILED") || !strings.Contains(log, "regression: epoll: RPS") {
		t.Fatalf("against a faster baseline: exit %d, want 1 naming epoll\n%s", code, log)
	}
}

// scaleRPS multiplies the Aggregated row's Requests/s in a Locust stats CSV.
func scaleRPS(t *testing.T, path string, k float64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, h := range rows[0] {
		if h == "Requests/s" {
			col = i
		}
	}
	changed := false
	for _, r := range rows[1:] {
		if col >= 0 && len(r) > 1 && r[1] == "Aggregated" {
			v, err := strconv.ParseFloat(r[col], 64)
			if err != nil {
				t.Fatal(err)
			}
			r[col] = strconv.FormatFloat(v*k, 'f', 6, 64)
			changed = true
		}
	}
	if !changed {
		t.Fatalf("%s: no Aggregated Requests/s", path)
	}
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	cw := csv.NewWriter(w)
	cw.WriteAll(rows)
	if err := w.Close(); err != nil || cw.Error() != nil {
		t.Fatal(err, cw.Error())
	}
}
