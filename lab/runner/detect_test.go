package runner

import (
	"os"
	"path/filepath"
	"testing"

	"serverlab/internal/locusts"
)

// The real masters of both supported versions tell which options a
// locustfile takes (2.47.0's --help does not list them).
func TestDetectWithRealLocust(t *testing.T) {
	dir := t.TempDir()
	lf := filepath.Join(dir, "locustfile.py")
	os.WriteFile(lf, []byte(`from locust import HttpUser, events, task

@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument("--target", choices=["epoll", "single"], default="epoll")
    parser.add_argument("--connect-timeout", type=float, default=5.0)
    parser.add_argument("--response-timeout", type=float, default=10.0)

class LabUser(HttpUser):
    @task
    def index(self):
        self.client.get("/")
`), 0o644)
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("#!/bin/sh\necho '  --on-emfile string'\n"), 0o755)
	pinned, err := locusts.Pinned()
	if err != nil {
		t.Fatal(err)
	}
	debian, err := locusts.Debian()
	if err != nil {
		t.Fatal(err)
	}
	for _, loc := range []locusts.Locust{pinned, debian} {
		f, err := detect(loc, lf, target, "single")
		if err != nil {
			t.Fatalf("%s: %v", loc.Version, err)
		}
		if f != (features{target: true, timeouts: true, targetAdmin: false, onEMFILE: true}) {
			t.Errorf("%s: %+v", loc.Version, f)
		}
		// A locustfile that does not load is an error, with its reason.
		os.WriteFile(filepath.Join(dir, "broken.py"), []byte("import nosuchmodule\n"), 0o644)
		if _, err := detect(loc, filepath.Join(dir, "broken.py"), target, "single"); err == nil {
			t.Errorf("%s: a broken locustfile passed", loc.Version)
		}
	}
}
