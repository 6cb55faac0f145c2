package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// copyFixture copies a fixture folder's CSVs (all models, or the named
// ones) into a new temporary folder.
func copyFixture(t *testing.T, ver string, models ...string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(labTestdata, "locust-"+ver)
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		model, _, _ := strings.Cut(e.Name(), "_")
		if len(models) > 0 && !contains(models, model) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
	}
	return dir
}

// A FIFO named like a stats CSV: refused at once with the reason, never
// waited on (no writer will ever come).
func TestCompareRefusesAFIFO(t *testing.T) {
	dir := copyFixture(t, "2.47.0", "epoll")
	if err := unix.Mkfifo(filepath.Join(dir, "thread_stats.csv"), 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code         int
		stdout, errs string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errs := compareRun(dir)
		done <- result{code, out, errs}
	}()
	select {
	case r := <-done:
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.errs, "thread_stats.csv: not a regular file (a FIFO)") || strings.Count(r.errs, "\n") != 1 {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.errs)
		}
	case <-time.After(30 * time.Second):
		// Unblock the reader so the test binary can end.
		f, _ := os.OpenFile(filepath.Join(dir, "thread_stats.csv"), os.O_WRONLY, 0)
		f.Close()
		t.Fatal("lab compare blocked on a FIFO")
	}
}

func TestCompareBOMAndDuplicateColumn(t *testing.T) {
	dir := copyFixture(t, "2.47.0", "epoll")
	for _, s := range []string{"_stats.csv", "_stats_history.csv", "_failures.csv"} {
		p := filepath.Join(dir, "epoll"+s)
		b, _ := os.ReadFile(p)
		os.WriteFile(p, append([]byte("\ufeff"), b...), 0o644)
	}
	code, out, errs := compareRun(dir, "--format", "csv")
	if code != 0 || !strings.Contains(out, "\nepoll,") {
		t.Fatalf("with a BOM: exit %d, %s%s", code, out, errs)
	}

	p := filepath.Join(dir, "epoll_stats.csv")
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i := range lines {
		if i == 0 {
			lines[i] += ",Request Count"
		} else {
			lines[i] += ",1"
		}
	}
	os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	code, out, errs = compareRun(dir)
	if code != 2 || out != "" || !strings.Contains(errs, `epoll_stats.csv:1: column "Request Count" twice`) {
		t.Errorf("duplicate column: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// A model of the baseline that is gone from the run fails the gate, named.
func TestBaselineModelVanished(t *testing.T) {
	now := copyFixture(t, "2.47.0", "epoll", "single")
	base := filepath.Join(labTestdata, "locust-2.47.0")
	code, out, errs := compareRun(now, "--baseline", base)
	if code != 1 || !strings.Contains(errs, "lab compare: regression: thread: in the baseline, missing now") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(out, "| thread |") || !strings.Contains(out, "**REGRESSED**: in the baseline, missing now") {
		t.Errorf("table:\n%s", out)
	}
}

// A history of hundreds of thousands of rows is streamed, not held: the
// heap stays small and the HTML page draws a chart's width of points.
func TestCompareLongHistoryBounded(t *testing.T) {
	dir := copyFixture(t, "2.47.0", "epoll")
	f, err := os.Create(filepath.Join(dir, "epoll_stats_history.csv"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size\n")
	const rows = 300_000
	for i := 0; i < rows; i++ {
		fmt.Fprintf(w, "%d,10,,Aggregated,%d.0,0.0,5,6,7,8,9,20,11,12,13,14,15,%d,0,5,5.5,1,15,512\n", 1700000000+i, 100+i%7, 100*(i+1))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var peak uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	page := filepath.Join(t.TempDir(), "r.html")
	code, _, errs := compareRun(dir, "--html", page)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// Held whole, these rows take about 150 MB of heap.
	if grew := int64(peak) - int64(before.HeapAlloc); grew > 48<<20 {
		t.Errorf("heap grew by %d MB reading %d history rows", grew>>20, rows)
	}
	st, err := os.Stat(page)
	if err != nil || st.Size() > 1<<20 {
		t.Errorf("HTML page: %v, %d bytes", err, st.Size())
	}
}

// Two lab runs, one per --on-emfile mode, side by side in lab compare:
// each row says its mode, and the setup list says what each folder ran.
func TestCompareTwoModesFromTwoFolders(t *testing.T) {
	parent := t.TempDir()
	for _, mode := range []string{"wait", "shed"} {
		dir := filepath.Join(parent, mode)
		os.Mkdir(dir, 0o755)
		src := copyFixture(t, "2.47.0", "epoll")
		ents, _ := os.ReadDir(src)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(src, e.Name()))
			os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
		}
		meta := `{"parameters": {"users": 300, "spawn_rate": 100, "run_time": "30s", "user_class": "LabUser",
		  "connect_timeout_s": 5, "response_timeout_s": 10, "on_emfile": ["` + mode + `"]},
		  "locust": {"version": "2.47.0"},
		  "runs": [{"model": "epoll", "on_emfile": "` + mode + `", "target_peaks": {"serverlab_open_fds": 64}}]}`
		os.WriteFile(filepath.Join(dir, "meta.json"), []byte(meta), 0o644)
	}
	code, out, errs := compareRun(filepath.Join(parent, "wait"), filepath.Join(parent, "shed"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"| wait/epoll | wait |", "| shed/epoll | shed |",
		"- wait: Locust 2.47.0", "- shed: Locust 2.47.0", "on EMFILE: shed"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}
