// Package itest runs bin/boomer as the worker of real Locust masters
// (the pinned version and Debian's 2.12.1) with the real locustfile.py,
// against a real bin/target.
package itest

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/locusts"
	"serverlab/internal/repo"
	"serverlab/internal/testbin"
)

// proc is a started command whose output is kept for failure messages.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testbin.Output
	done chan struct{}
	err  error
}

// start runs name with args; Cleanup kills it if it is still running.
func start(t *testing.T, label, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: label, cmd: exec.Command(name, args...), out: &testbin.Output{}, done: make(chan struct{})}
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.Dir = t.TempDir()
	p.cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, tail(p.out.String(), 60))
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
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", p.name, p.err)
	return -1
}

func (p *proc) signal(sig syscall.Signal) { p.cmd.Process.Signal(sig) }

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
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

func root(t *testing.T) string {
	t.Helper()
	r, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// startTarget runs bin/target --model epoll on a free port and returns its
// base URL.
func startTarget(t *testing.T) string {
	t.Helper()
	base, _ := startModel(t, "epoll")
	return base
}

// startModel runs bin/target --model model with more flags on a free
// port and returns its base URL, and its admin URL when the flags ask for
// an admin port.
func startModel(t *testing.T, model string, flags ...string) (base, admin string) {
	t.Helper()
	bin := testbin.Build(t, "serverlab/targets/cmd/target")
	r := root(t)
	args := append([]string{"--model", model, "--addr", "127.0.0.1:0", "--docroot", filepath.Join(r, "targets", "www")}, flags...)
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
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	wantAdmin := slices.Contains(flags, "--admin-addr")
	deadline := time.After(20 * time.Second)
	for base == "" || (wantAdmin && admin == "") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("target exited; stderr: %s", stderr.String())
			}
			if a, ok := strings.CutPrefix(l, "listening on "); ok {
				a, _, _ = strings.Cut(a, " ")
				base = "http://" + a
			}
			if a, ok := strings.CutPrefix(l, "admin on "); ok {
				admin = "http://" + strings.TrimSpace(a)
			}
		case <-deadline:
			t.Fatalf("target did not say it was listening; stderr: %s", stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return base, admin
}

func startWorker(t *testing.T, masterPort int, args ...string) *proc {
	t.Helper()
	bin := testbin.Build(t, "serverlab/boomer/cmd/boomer")
	return start(t, "worker", bin, append([]string{"--master-port", strconv.Itoa(masterPort)}, args...)...)
}

// csvRows reads a Locust CSV into maps keyed by its header.
func csvRows(t *testing.T, path string) []map[string]string {
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
			if i < len(r) {
				m[h] = r[i]
			}
		}
		rows = append(rows, m)
	}
	return rows
}

// requestCounts maps each stats row's name to its request and failure
// counts.
func requestCounts(t *testing.T, statsCSV string) map[string][2]int {
	t.Helper()
	counts := map[string][2]int{}
	for _, r := range csvRows(t, statsCSV) {
		n, err1 := strconv.Atoi(r["Request Count"])
		f, err2 := strconv.Atoi(r["Failure Count"])
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: row %v", statsCSV, r)
		}
		counts[r["Name"]] = [2]int{n, f}
	}
	return counts
}

func describe(counts map[string][2]int) string {
	var b strings.Builder
	for name, c := range counts {
		fmt.Fprintf(&b, "%s: %d requests, %d failures; ", name, c[0], c[1])
	}
	return b.String()
}
