// Package itest runs bin/boomer as the worker of real Locust masters
// (the pinned version and Debian's 2.12.1) with the real locustfile.py,
// against a real bin/target.
package itest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// proc is a started command whose output is kept for failure messages.
type proc = testbin.Proc

// start runs name with args; it is stopped when the test ends.
func start(t *testing.T, label, name string, args ...string) *proc {
	t.Helper()
	return testbin.Start(t, label, nil, name, args...)
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
	r := testbin.Root(t)
	args := append([]string{"--model", model, "--addr", "127.0.0.1:0", "--docroot", filepath.Join(r, "targets", "www")}, flags...)
	p, stderr := testbin.Target(t, exec.Command(bin, args...))
	base = "http://" + p.Ready.Addr
	if p.Ready.Admin != "" {
		admin = "http://" + p.Ready.Admin
	}
	if slices.Contains(flags, "--admin-addr") && admin == "" {
		t.Fatalf("target printed no admin address; stderr: %s", stderr.String())
	}
	return base, admin
}

// startMaster starts a Locust master of l on masterPort with
// masterArgs and more, and waits until it takes workers: a worker started
// before the master binds waits out its reconnect back-off, started after,
// it joins at once.
func startMaster(t *testing.T, label string, l locusts.Locust, masterPort int, more ...string) *proc {
	t.Helper()
	m := start(t, label, l.Path, masterArgs(t, masterPort, more...)...)
	waitListening(t, masterPort, m)
	return m
}

// startWorker starts bin/boomer for the master on masterPort; it does not
// wait: a headless master counts it with --expect-workers, others with
// launch.WorkersConnected.
func startWorker(t *testing.T, masterPort int, args ...string) *proc {
	t.Helper()
	bin := testbin.Build(t, "serverlab/boomer/cmd/boomer")
	return start(t, "worker", bin, append([]string{"--master-port", strconv.Itoa(masterPort)}, args...)...)
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

// csvRows reads a Locust CSV into maps keyed by its header.
func csvRows(t *testing.T, path string) []map[string]string {
	t.Helper()
	_, rows := testbin.CSV(t, path)
	return rows
}
