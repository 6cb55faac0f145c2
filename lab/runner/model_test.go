package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A run's account of a lost worker quotes the first late heartbeat the
// master did not wait out: 4 s by Locust's default, 11 s in a sweep,
// whose master waits longer.
func TestLateBeatsQuoteTheGapTheMasterDidNotWaitOut(t *testing.T) {
	line := func(gap string) string {
		return fmt.Sprintf(`time=2026-12-01T18:48:45.100Z level=WARN msg="no heartbeat went to the master for %s (a master's default limit is 4 to 5 s); meanwhile this worker used 80ms of CPU"`, gap)
	}
	for _, tc := range []struct {
		name  string
		sweep []int
		gaps  []string
		want  string
	}{
		{"plain run", nil, []string{"2.1s", "4.2s", "12.5s"}, "4.2s"},
		{"sweep", []int{10, 100}, []string{"2.1s", "4.2s", "12.5s", "20s"}, "12.5s"},
		{"sweep, no gap it would not wait out", []int{10, 100}, []string{"2.1s", "4.2s", "3s"}, "3s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "epoll")
			var log strings.Builder
			log.WriteString("level=INFO msg=\"connected\"\n")
			for _, g := range tc.gaps {
				log.WriteString(line(g) + "\n")
			}
			if err := os.WriteFile(base+".boomer-1.log", []byte(log.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			m := &modelRun{run: &run{cfg: Config{Sweep: tc.sweep}}, base: base, workers: make([]*proc, 1), step: step{generator: "go"}}
			got := m.lateBeats()
			want := "worker 1: no heartbeat went to the master for " + tc.want + " "
			if len(got) != 1 || !strings.HasPrefix(got[0], want) {
				t.Errorf("lateBeats() = %q, want one line starting %q", got, want)
			}
		})
	}
}
