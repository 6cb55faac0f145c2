package locustcsv_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"serverlab/lab/locustcsv"
	"serverlab/lab/regular"
)

// A FIFO named like a stats CSV is refused at once, not waited on.
func TestFIFORefused(t *testing.T) {
	dir := copyRun(t)
	stats := filepath.Join(dir, "m"+locustcsv.StatsSuffix)
	os.Remove(stats)
	if err := unix.Mkfifo(stats, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := locustcsv.ReadRun(filepath.Join(dir, "m"))
	if !errors.Is(err, regular.ErrNotRegular) || !strings.Contains(err.Error(), "m_stats.csv: not a regular file (a FIFO)") {
		t.Fatalf("FIFO: %v", err)
	}
}

// A column twice is an error naming it, not a silent choice of one.
func TestDuplicateColumn(t *testing.T) {
	dir := copyRun(t)
	edit(t, filepath.Join(dir, "m"+locustcsv.StatsSuffix), func(s string) string {
		head, rest, _ := strings.Cut(s, "\n")
		var out []string
		out = append(out, head+",Request Count")
		for _, l := range strings.Split(strings.TrimSuffix(rest, "\n"), "\n") {
			out = append(out, l+",1")
		}
		return strings.Join(out, "\n") + "\n"
	})
	_, err := locustcsv.ReadRun(filepath.Join(dir, "m"))
	if err == nil || !strings.Contains(err.Error(), `m_stats.csv:1: column "Request Count" twice`) {
		t.Fatalf("duplicate column: %v", err)
	}
}

// A byte order mark, as spreadsheets save CSVs, is read past.
func TestByteOrderMark(t *testing.T) {
	dir := copyRun(t)
	for _, s := range []string{locustcsv.StatsSuffix, locustcsv.HistorySuffix, locustcsv.FailuresSuffix} {
		edit(t, filepath.Join(dir, "m"+s), func(s string) string { return "\ufeff" + s })
	}
	run, err := locustcsv.ReadRun(filepath.Join(dir, "m"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := locustcsv.ReadRun(filepath.Join(copyRun(t), "m"))
	if run.Aggregated.Requests != want.Aggregated.Requests || len(run.History) != len(want.History) || len(run.Failures) != len(want.Failures) {
		t.Errorf("with a BOM: %+v, without: %+v", run.Aggregated, want.Aggregated)
	}
}

const historyHead = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size\n"

// WriteHistory writes n Aggregated rows, one a second, RPS 100 but for a
// spike of p95 9999 ms at row spike.
func writeHistory(t *testing.T, path string, n, spike int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(historyHead)
	for i := 0; i < n; i++ {
		p95 := 20
		if i == spike {
			p95 = 9999
		}
		fmt.Fprintf(w, "%d,10,,Aggregated,100.0,0.0,5,6,7,8,9,%d,11,12,13,14,15,%d,0,5,5.5,1,15,512\n", 1700000000+i, p95, 100*(i+1))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// A long history is read in bounded memory: at most MaxHistory points,
// spanning the whole run, the spike kept, the totals the last row's.
func TestLongHistoryDownsampled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m"+locustcsv.HistorySuffix)
	const n = 100_003
	writeHistory(t, path, n, 77_777)
	h, err := locustcsv.ReadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) > locustcsv.MaxHistory || len(h) < locustcsv.MaxHistory/4 {
		t.Fatalf("%d points", len(h))
	}
	last := h[len(h)-1]
	if h[0].Time != 1700000000 || last.Requests != 100*n || last.Time > 1700000000+n-1 || last.Time < 1700000000+n-100 {
		t.Errorf("first %+v, last %+v", h[0], last)
	}
	spikes := 0
	for i, p := range h {
		if p.RPS != 100 {
			t.Fatalf("point %d: RPS %v", i, p.RPS)
		}
		if p.P95 == 9999 {
			spikes++
		}
		if i > 0 && p.Time <= h[i-1].Time {
			t.Fatalf("point %d goes back: %d after %d", i, p.Time, h[i-1].Time)
		}
	}
	if spikes != 1 {
		t.Errorf("the p95 spike is in %d points, want 1", spikes)
	}
}

// A history being written: its unfinished last line is not an error.
func TestLastPointOfAFileBeingWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m"+locustcsv.HistorySuffix)
	if _, ok := locustcsv.LastPoint(path); ok {
		t.Fatal("missing file read")
	}
	os.WriteFile(path, []byte(historyHead), 0o644)
	if _, ok := locustcsv.LastPoint(path); ok {
		t.Fatal("header-only file read")
	}
	os.WriteFile(path, []byte(historyHead+
		"1700000000,10,,Aggregated,50.0,1.0,3,4,5,6,7,8,9,10,11,12,13,100,2,3,3.5,1,13,512\n"+
		"1700000000,10,GET,/,50.0,1.0,3,4,5,6,7,8,9,10,11,12,13,100,2,3,3.5,1,13,512\n"+
		"1700000002,20,,Aggregated,75.5,0.0,3,4,5,6,7,8,9,10,11,12,13,251,2,3,3.5,1,13,512\n"+
		"1700000004,20,,Aggreg"), 0o644)
	p, ok := locustcsv.LastPoint(path)
	if !ok || p.Users != 20 || p.RPS != 75.5 || p.Requests != 251 || p.Failures != 2 {
		t.Fatalf("got %+v %v", p, ok)
	}
	if _, err := locustcsv.ReadHistory(path); err == nil {
		t.Fatal("a finished file cut short is an error when not being written")
	}
}
