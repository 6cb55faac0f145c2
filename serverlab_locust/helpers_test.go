// Package serverlablocust tests the Python package serverlab_locust with
// real processes: a bin/target with its admin port, real Locust masters of
// both versions with the repository's locustfile.py, and bin/boomer.
package serverlablocust

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"serverlab/internal/launch"
	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// versions are the Locust masters the package must work with.
var versions = []struct {
	name string
	find func() (locusts.Locust, error)
}{{"pinned", locusts.Pinned}, {"debian", locusts.Debian}}

// proc is a started command whose output is kept for failure messages.
type proc = testbin.Proc

// start runs name with args and extra environment; it is stopped when the
// test ends.
var start = testbin.Start

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
		"--docroot", filepath.Join(testbin.Root(t), "targets", "www")}, more...)
	// The target prints its ready line once both ports listen.
	p, _ := testbin.Target(t, exec.Command(bin, args...))
	if p.Ready.Admin != admin {
		t.Fatalf("target's admin on %q, want %s", p.Ready.Admin, admin)
	}
	return target{site: "http://" + p.Ready.Addr, admin: "http://" + admin}
}

// startMaster starts a Locust master of l on masterPort with masterArgs
// and more, and waits until it takes workers.
func startMaster(t *testing.T, l locusts.Locust, env []string, masterPort int, more ...string) *proc {
	t.Helper()
	m := start(t, "master "+l.Version, env, l.Path, masterArgs(t, masterPort, more...)...)
	m.Await(t, 60*time.Second, launch.Master(masterPort))
	return m
}

// startWorker starts bin/boomer for the master on masterPort; it does not
// wait: a headless master counts it with --expect-workers, others with
// launch.WorkersConnected.
func startWorker(t *testing.T, masterPort int) *proc {
	t.Helper()
	bin := testbin.Build(t, "serverlab/boomer/cmd/boomer")
	return start(t, "worker", nil, bin, "--master-port", strconv.Itoa(masterPort))
}

// masterArgs: the real locustfile, a ZeroMQ port of its own on loopback.
func masterArgs(t *testing.T, masterPort int, more ...string) []string {
	return testbin.MasterArgs(t, masterPort, more...)
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
