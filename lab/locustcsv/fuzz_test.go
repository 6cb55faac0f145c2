package locustcsv_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"serverlab/lab/locustcsv"
)

// FuzzReadRun: any bytes give a run or a one-line error, never a panic.
func FuzzReadRun(f *testing.F) {
	for _, name := range []string{"locust-2.47.0/thread", "locust-2.12.1/epoll"} {
		var parts [3][]byte
		for i, s := range []string{locustcsv.StatsSuffix, locustcsv.HistorySuffix, locustcsv.FailuresSuffix} {
			b, err := os.ReadFile(filepath.Join(fixtures, name+s))
			if err != nil {
				f.Fatal(err)
			}
			parts[i] = b
		}
		f.Add(parts[0], parts[1], parts[2])
	}
	f.Fuzz(func(t *testing.T, stats, history, failures []byte) {
		dir := t.TempDir()
		for s, b := range map[string][]byte{locustcsv.StatsSuffix: stats, locustcsv.HistorySuffix: history, locustcsv.FailuresSuffix: failures} {
			if err := os.WriteFile(filepath.Join(dir, "m"+s), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run, err := locustcsv.ReadRun(filepath.Join(dir, "m"))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if run.Aggregated.Requests == 0 || run.Aggregated.Failures > run.Aggregated.Requests {
			t.Fatalf("accepted %+v", run.Aggregated)
		}
	})
}
