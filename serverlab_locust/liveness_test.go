package serverlablocust

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/launch"
	"serverlab/internal/testbin"
)

// A Go worker that sends no heartbeat for 7 s (stopped by SIGSTOP, then
// let go) is declared missing by a master with Locust's own liveness, and
// kept by one whose locustfile called heartbeat_liveness(10), on both
// Locust versions.
func TestHeartbeatLiveness(t *testing.T) {
	for _, v := range versions {
		for _, beats := range []int{0, 10} {
			t.Run(fmt.Sprintf("%s/liveness=%d", v.name, beats), func(t *testing.T) {
				t.Parallel()
				l, err := v.find()
				if err != nil {
					t.Fatal(err)
				}
				locustfile := filepath.Join(t.TempDir(), "liveness_locustfile.py")
				text := fmt.Sprintf("import sys\nsys.path.insert(0, %q)\nfrom locustfile import *  # noqa\n", testbin.Root(t))
				if beats > 0 {
					text += fmt.Sprintf("from serverlab_locust.sweep import heartbeat_liveness\nheartbeat_liveness(%d)\n", beats)
				}
				if err := os.WriteFile(locustfile, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				port := testbin.FreePort(t)
				master := startMaster(t, l, nil, port, "-f", locustfile, "--headless", "--expect-workers", "1",
					"-u", "1", "-r", "1", "-t", "60s", "LabUser", "--host", "http://127.0.0.1:9")
				worker := startWorker(t, port)
				master.Await(t, 60*time.Second, launch.WorkersConnected(1))
				worker.Signal(syscall.SIGSTOP)
				time.Sleep(7 * time.Second)
				worker.Signal(syscall.SIGCONT)
				// Two of the master's checks after the worker's next heartbeat.
				time.Sleep(2 * time.Second)
				missing := strings.Contains(master.Out.String(), "failed to send heartbeat")
				if beats == 0 && !missing {
					t.Errorf("Locust's own liveness kept a worker silent for 7 s:\n%s", testbin.Tail(master.Out.String(), 30))
				}
				if beats > 0 && missing {
					t.Errorf("heartbeat_liveness(%d) did not keep a worker silent for 7 s:\n%s", beats, testbin.Tail(master.Out.String(), 30))
				}
			})
		}
	}
}
