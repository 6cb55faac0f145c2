package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// One lab run of a model in both --on-emfile modes: the server table says
// which row is which mode, and the setup says what the run used.
func TestReportShowsModesAndSetup(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(testdata, "locust-2.47.0")
	for _, mode := range []string{"wait", "shed"} {
		for _, s := range []string{"_stats.csv", "_stats_history.csv", "_failures.csv"} {
			b, err := os.ReadFile(filepath.Join(src, "epoll"+s))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "epoll-"+mode+s), b, 0o644)
		}
	}
	meta := `{"parameters": {"users": 300, "spawn_rate": 100, "run_time": "30s", "user_class": "LabUser",
	    "connect_timeout_s": 5, "response_timeout_s": 2.5, "on_emfile": ["wait", "shed"]},
	  "locust": {"path": "/x/.venv/bin/locust", "version": "2.47.0", "chosen": "pinned"},
	  "runs": [
	  {"model": "epoll", "name": "epoll-wait", "on_emfile": "wait", "target_peaks": {"serverlab_open_fds": 64},
	   "target_final": {"serverlab_accept_errors_total{errno=\"EMFILE\"}": 12}},
	  {"model": "epoll", "name": "epoll-shed", "on_emfile": "shed", "target_peaks": {"serverlab_open_fds": 63}}]}`
	os.WriteFile(filepath.Join(dir, "meta.json"), []byte(meta), 0o644)
	if err := WriteDir(dir, []string{"epoll-wait", "epoll-shed"}); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{
		"| model | on EMFILE | accepted |",
		"| epoll-wait | wait | 0 | 0 | 0 | 0 | 0.0 | 64 | - | - | 12 |",
		"| epoll-shed | shed | 0 | 0 | 0 | 0 | 0.0 | 63 | - | - | 0 |",
		"Locust 2.47.0, 300 LabUser users (100 a second), 30s a model; timeouts: connect 5 s, response 2.5 s; on EMFILE: wait and shed",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	page, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(page), "<th>on EMFILE</th>") || !strings.Contains(string(page), "<h2>Setup</h2>") {
		t.Errorf("report.html lacks the mode column or the setup")
	}
}
