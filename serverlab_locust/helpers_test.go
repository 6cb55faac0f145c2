// Package serverlablocust tests the Python package serverlab_locust with
// real processes: a bin/target with its admin port, real Locust masters of
// both versions with the repository's locustfile.py, and bin/boomer.
package serverlablocust

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/locusts"
	"serverlab/internal/repo"
	"serverlab/internal/testbin"
)

func root(t *testing.T) string {
	t.Helper()
	r, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// need returns a Locust install, and fails the test when it is missing:
// scripts/setup.sh installs both.
func need(t *testing.T, find func() (locusts.Locust, error)) locusts.Locust {
	t.Helper()
	l, err := find()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// versions are the Locust masters the package must work with.
var versions = []struct {
	name string
	find func() (locusts.Locust, error)
}{{"pinned", locusts.Pinned}, {"debian", locusts.Debian}}

// proc is a started command whose output is kept for failure messages.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testbin.Output
	done chan struct{}
	err  error
}

// start runs name with args and extra environment; Cleanup stops it.
func start(t *testing.T, label string, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: label, cmd: exec.Command(name, args...), out: &testbin.Output{}, done: make(chan struct{})}
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.Dir = t.TempDir()
	p.cmd.Env = append(append(os.Environ(), "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, tail(p.out.String(), 40))
		}
	})
	return p
}

// wait waits up to d for the process to end and returns its exit code.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("%s still running after %v", p.name, d)
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if p.err != nil {
		t.Fatalf("%s: %v", p.name, p.err)
	}
	return 0
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// target is a running bin/target.
type target struct {
	site, admin string // base URLs
}

// startTarget runs bin/target --model epoll on free loopback ports, with
// its admin port, and more flags.
func startTarget(t *testing.T, more ...string) target {
	t.Helper()
	bin := testbin.Build(t, "serverlab/targets/cmd/target")
	admin := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t))
	args := append([]string{"--model", "epoll", "--addr", "127.0.0.1:0", "--admin-addr", admin,
		"--docroot", filepath.Join(root(t), "targets", "www")}, more...)
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testbin.Output
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start target: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening on ") {
				lines <- sc.Text()
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-lines:
		addr, _, _ := strings.Cut(strings.TrimPrefix(l, "listening on "), " ")
		tg := target{site: "http://" + addr, admin: "http://" + admin}
		eventually(t, 20*time.Second, "the admin port to answer", func() (bool, string) {
			_, err := get(tg.admin + "/healthz")
			return err == nil, fmt.Sprint(err)
		})
		return tg
	case <-time.After(20 * time.Second):
		t.Fatalf("target did not say it was listening; stderr: %s", stderr.String())
	}
	return target{}
}

func startWorker(t *testing.T, masterPort int) *proc {
	t.Helper()
	bin := testbin.Build(t, "serverlab/boomer/cmd/boomer")
	return start(t, "worker", nil, bin, "--master-port", strconv.Itoa(masterPort))
}

// masterArgs: the real locustfile, a ZeroMQ port of its own on loopback.
func masterArgs(t *testing.T, masterPort int, more ...string) []string {
	return append([]string{
		"-f", filepath.Join(root(t), "locustfile.py"),
		"--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", strconv.Itoa(masterPort),
	}, more...)
}

var client = &http.Client{Timeout: 10 * time.Second}

// get returns the body of a 200 answer.
func get(u string) ([]byte, error) {
	res, err := client.Get(u)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return b, fmt.Errorf("GET %s: %s: %.200s", u, res.Status, b)
	}
	return b, nil
}

func getJSON(u string, v any) error {
	b, err := get(u)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w: %.200s", u, err, b)
	}
	return nil
}

// post sends a form and fails the test unless Locust says success.
func post(t *testing.T, u string, form url.Values) {
	t.Helper()
	res, err := client.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r struct {
		Success bool   `json:"success"`
		Message string `json:"message"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil || !r.Success {
		t.Fatalf("POST %s: %s %+v %v", u, res.Status, r, err)
	}
}

// stop ends the web UI's run: POST on the React UI, GET on older ones.
func stop(t *testing.T, web string) {
	t.Helper()
	res, err := client.PostForm(web+"/stop", nil)
	if err == nil && res.StatusCode == http.StatusMethodNotAllowed {
		res.Body.Close()
		res, err = client.Get(web + "/stop")
	}
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stop: %s", res.Status)
	}
}

func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
	}
	t.Fatalf("waited %v for %s; last: %s", d, what, last)
}

// csvRecords reads a CSV file: the header, then the rows as maps.
func csvRecords(t *testing.T, path string) ([]string, []map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(recs) == 0 {
		t.Fatalf("%s is empty", path)
	}
	var rows []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		rows = append(rows, m)
	}
	return recs[0], rows
}
