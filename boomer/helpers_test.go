package boomer

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"serverlab/internal/locusts"
)

// missing fails the test in CI and skips it elsewhere.
func missing(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: %v", what, err)
	}
	t.Skipf("%s: %v", what, err)
}

// locustPython returns an interpreter that can import locust and msgpack:
// the pinned venv's, else Debian's.
func locustPython(t *testing.T) string {
	t.Helper()
	var errs []string
	if l, err := locusts.Pinned(); err == nil {
		return l.Python
	} else {
		errs = append(errs, err.Error())
	}
	if l, err := locusts.Debian(); err == nil {
		return l.Python
	} else {
		errs = append(errs, err.Error())
	}
	missing(t, "no Python with Locust", fmtErr(strings.Join(errs, "; ")))
	return ""
}

type fmtErr string

func (e fmtErr) Error() string { return string(e) }

// runPython runs script with input as JSON on stdin and decodes its JSON
// stdout into out.
func runPython(t *testing.T, py, script string, input, out any) {
	t.Helper()
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("python output %q: %v", stdout, err)
	}
}
