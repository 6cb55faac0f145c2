package boomer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"serverlab/internal/launch"
	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// The master's locustfile: GoUser matches the Go class below. The "ping"
// handler proves custom messages flow both ways: it answers with "pong",
// which the Go side records as a request.
const masterLocustfile = `
from locust import HttpUser, task, events, constant

class GoUser(HttpUser):
    host = "http://127.0.0.1:9"
    wait_time = constant(1)

    @task
    def nothing(self):
        pass

@events.init.add_listener
def on_init(environment, **kw):
    runner = environment.runner
    if runner is None or not hasattr(runner, "clients"):
        return
    def on_ping(environment, msg, **kw):
        runner.send_message("pong", {"got": msg.data["n"]}, client_id=msg.node_id)
    runner.register_message("ping", on_ping)
`

func TestRealMasterPinned(t *testing.T) {
	l, err := locusts.Pinned()
	if err != nil {
		missing(t, "pinned Locust", err)
	}
	testRealMaster(t, l)
}

func TestRealMasterDebian(t *testing.T) {
	l, err := locusts.Debian()
	if err != nil {
		missing(t, "Debian's Locust", err)
	}
	testRealMaster(t, l)
}

// testRealMaster runs a headless Locust master that expects one worker,
// runs this package's worker against it and checks the master's CSV
// shows the Go worker's requests.
func testRealMaster(t *testing.T, l locusts.Locust) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "locustfile.py"), []byte(masterLocustfile), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testbin.FreePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.Path, "--master", "--headless", "--expect-workers", "1",
		"-u", "4", "-r", "4", "-t", "5s", "-f", "locustfile.py",
		"--master-bind-host", "127.0.0.1", "--master-bind-port", strconv.Itoa(port),
		"--csv", "out", "--loglevel", "INFO")
	cmd.Dir = dir
	out := &testbin.Output{}
	master, err := launch.Run(cmd, launch.Options{Log: out})
	if err != nil {
		t.Fatal(err)
	}
	// A worker that dials before the master binds waits out a back-off.
	if err := master.Await(ctx, 60*time.Second, launch.Master(port)); err != nil {
		t.Fatalf("master: %v\n%s", err, out.String())
	}
	masterDone := make(chan error, 1)
	go func() { <-master.Exited(); master.OutputEnded(5 * time.Second); masterDone <- master.Err() }()

	b := NewBoomer(Options{MasterHost: "127.0.0.1", MasterPort: port})
	var pongs atomic.Int64
	b.RegisterMessage("pong", func(data any) {
		d, _ := asStringMap(data)
		if n, _ := asInt(d["got"]); n == 7 {
			pongs.Add(1)
			RecordSuccess("PONG", "pong", 0, 0)
		}
	})
	var pinged atomic.Bool
	goUser := &UserClass{
		Name: "GoUser",
		Tasks: []Task{{Name: "record", Fn: func(u *User) {
			if pinged.CompareAndSwap(false, true) {
				if err := b.SendMessage("ping", map[string]any{"n": 7}); err != nil {
					u.RecordFailure("PING", "ping", 0, err.Error())
				}
			}
			u.RecordSuccess("GET", "/go", 1500*time.Microsecond, 100)
		}}},
		Wait: Constant(20 * time.Millisecond),
	}
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(ctx, goUser) }()

	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run: %v\nmaster output:\n%s", err, out.String())
		}
	case <-ctx.Done():
		t.Fatalf("worker did not get quit from the master\nmaster output:\n%s", out.String())
	}
	var mErr error
	select {
	case mErr = <-masterDone:
	case <-ctx.Done():
		t.Fatalf("master did not exit\n%s", out.String())
	}
	var ee *exec.ExitError
	if mErr != nil && !errors.As(mErr, &ee) {
		t.Fatalf("master: %v", mErr)
	}
	log := out.String()
	for _, bad := range []string{"pre 2.0", "different version", "Traceback", "Unknown message type"} {
		if strings.Contains(log, bad) {
			t.Errorf("master output contains %q:\n%s", bad, log)
		}
	}
	rows := readStatsCSV(t, filepath.Join(dir, "out_stats.csv"))
	got, ok := rows["GET /go"]
	if !ok {
		t.Fatalf("no GET /go row in the master's CSV %v\nmaster output:\n%s", rows, log)
	}
	if n, _ := strconv.Atoi(got["Request Count"]); n < 10 {
		t.Errorf("master counted %d GET /go requests, want many", n)
	}
	t.Logf("%s master counted %s GET /go requests", l.Version, got["Request Count"])
	if got["Failure Count"] != "0" {
		t.Errorf("master counted %s failures", got["Failure Count"])
	}
	if pongs.Load() != 1 {
		t.Errorf("%d pongs from the master, want 1", pongs.Load())
	}
	if _, ok := rows["PONG pong"]; !ok {
		t.Errorf("the pong recorded after the master's custom message is not in its CSV %v", rows)
	}
	if s := b.Summary(); !strings.Contains(s, "/go") {
		t.Errorf("summary lacks /go:\n%s", s)
	}
}

// readStatsCSV returns the rows of Locust's _stats.csv keyed "TYPE NAME".
func readStatsCSV(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	_, recs := testbin.CSV(t, path)
	rows := map[string]map[string]string{}
	for _, row := range recs {
		rows[fmt.Sprintf("%s %s", row["Type"], row["Name"])] = row
	}
	return rows
}
