package serverlablocust

import (
	"os/exec"
	"strings"
	"testing"

	"serverlab/internal/locusts"
)

// A bad --target-hosts list is refused by the master before it starts,
// in one line that says what is wrong; no list at all is fine.
func TestTargetHostsRefusedInOneLine(t *testing.T) {
	l := need(t, locusts.Pinned)
	for _, tc := range []struct{ value, want string }{
		{"epoll", `argument --target-hosts: 'epoll': want MODEL=URL`},
		{"=http://127.0.0.1:1", `'=http://127.0.0.1:1': want MODEL=URL`},
		{"epoll=ftp://127.0.0.1:1", `'ftp://127.0.0.1:1' is not an http:// URL`},
		{"epoll=http://a:1,epoll=http://b:1", `'epoll' named twice`},
		{"epoll=http://127.0.0.1:1,select=http://127.0.0.1:2", ""},
		{"", ""},
	} {
		cmd := exec.Command(l.Path, "-f", "locustfile.py", "--list", "--target-hosts", tc.value)
		cmd.Dir = root(t)
		out, err := cmd.CombinedOutput()
		if tc.want == "" {
			if err != nil || !strings.Contains(string(out), "LabUser") {
				t.Errorf("--target-hosts %q: %v\n%s", tc.value, err, out)
			}
			continue
		}
		var errLines []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "error:") || strings.Contains(line, "Traceback") {
				errLines = append(errLines, line)
			}
		}
		if err == nil || len(errLines) != 1 || !strings.Contains(errLines[0], tc.want) {
			t.Errorf("--target-hosts %q: %v, error lines %q; want one with %q", tc.value, err, errLines, tc.want)
		}
	}
}

// The Target tab's admin URL: a template with {model}, or the model's own
// from a MODEL=URL list; a model the list lacks is a reason, not a crash.
func TestAdminURLFromAList(t *testing.T) {
	l := need(t, locusts.Pinned)
	const script = `
import types
from serverlab_locust import target
for url, model in [("http://t-{model}:9090", "epoll"),
                   ("epoll=http://127.0.0.1:8209/, select=http://127.0.0.1:8206", "select"),
                   ("epoll=http://127.0.0.1:8209", "epoll"),
                   ("epoll=http://127.0.0.1:8209", "thread"),
                   ("http://127.0.0.1:9090/?a=b", "epoll")]:
    try:
        print(target.admin_url(types.SimpleNamespace(target_admin_url=url, target=model)))
    except ValueError as e:
        print("ValueError:", e)
`
	cmd := exec.Command(l.Python, "-c", script)
	cmd.Dir = root(t)
	cmd.Env = append(cmd.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	want := strings.Join([]string{
		"http://t-epoll:9090",
		"http://127.0.0.1:8206",
		"http://127.0.0.1:8209",
		"ValueError: --target-admin-url names no admin URL for target thread",
		"http://127.0.0.1:9090/?a=b",
	}, "\n")
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
