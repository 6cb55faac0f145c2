package serverlab_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A table of measured numbers in the README is a copy of a committed run's
// report, never typed: the line before it names the report,
//
//	<!-- results: results/sweep/report.md -->
//
// and every row of the table must be a line of that report. A rerun that
// changes the numbers fails here until the README shows the new ones.
var resultsRE = regexp.MustCompile(`^<!-- results: (\S+) -->$`)

func TestReadmeResultsTables(t *testing.T) {
	root, b := readme(t)
	lines := strings.Split(string(b), "\n")
	marked := 0
	for i, l := range lines {
		m := resultsRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		marked++
		rep, err := os.ReadFile(filepath.Join(root, m[1]))
		if err != nil {
			t.Errorf("README.md:%d: %v", i+1, err)
			continue
		}
		have := map[string]bool{}
		for _, r := range strings.Split(string(rep), "\n") {
			have[r] = true
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j == len(lines) || !strings.HasPrefix(lines[j], "|") {
			t.Errorf("README.md:%d: a results marker with no table after it", i+1)
			continue
		}
		for ; j < len(lines) && strings.HasPrefix(lines[j], "|"); j++ {
			if !have[lines[j]] {
				t.Errorf("README.md:%d: not a line of %s (rerun's numbers not copied?):\n%s", j+1, m[1], lines[j])
			}
		}
	}
	if marked == 0 {
		t.Fatal("README.md marks no results table")
	}
}
