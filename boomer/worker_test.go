package boomer

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"serverlab/internal/testbin"
)

// fakeMaster is a ZeroMQ ROUTER speaking Locust's master side, so the
// tests can drive every protocol path (a real master covers the common one).
type fakeMaster struct {
	t      *testing.T
	sock   zmq4.Socket
	msgs   chan message
	ended  chan struct{}
	cancel context.CancelFunc
}

func newFakeMaster(t *testing.T, port int) *fakeMaster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m := &fakeMaster{t: t, sock: zmq4.NewRouter(ctx, zmq4.WithID(zmq4.SocketIdentity("master"))),
		msgs: make(chan message, 1000), ended: make(chan struct{}), cancel: cancel}
	if err := m.sock.Listen(fmt.Sprintf("tcp://127.0.0.1:%d", port)); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(m.ended)
		for {
			zm, err := m.sock.Recv()
			if err != nil {
				return
			}
			if len(zm.Frames) != 2 {
				t.Errorf("worker sent %d frames, want identity + 1", len(zm.Frames))
				continue
			}
			msg, err := decodeMessage(zm.Frames[1])
			if err != nil {
				t.Errorf("undecodable message from worker: %v", err)
				continue
			}
			if msg.NodeID != string(zm.Frames[0]) {
				t.Errorf("message node id %q from socket %q", msg.NodeID, zm.Frames[0])
			}
			m.msgs <- msg
		}
	}()
	return m
}

func (m *fakeMaster) close() {
	m.cancel()
	m.sock.Close()
	<-m.ended
}

func (m *fakeMaster) send(node, typ string, data any) {
	m.t.Helper()
	b, err := encodeMessage(message{Type: typ, Data: data, NodeID: "master"})
	if err != nil {
		m.t.Fatal(err)
	}
	if err := m.sock.SendMulti(zmq4.NewMsgFrom([]byte(node), b)); err != nil {
		m.t.Fatalf("send %s: %v", typ, err)
	}
}

// expect returns the next message of type typ for which ok (if given)
// holds, skipping others; it fails after a generous deadline.
func (m *fakeMaster) expect(typ string, ok func(message) bool) message {
	m.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case msg := <-m.msgs:
			if msg.Type == typ && (ok == nil || ok(msg)) {
				return msg
			}
		case <-deadline:
			m.t.Fatalf("no %s message from the worker", typ)
		}
	}
}

func dataMap(t *testing.T, m message) map[string]any {
	t.Helper()
	d, ok := asStringMap(m.Data)
	if !ok {
		t.Fatalf("%s data is %T, not a map", m.Type, m.Data)
	}
	return d
}

// join runs b as a worker of m and acks it, as a master acks a worker
// that has just connected; it returns the worker's node id and where
// Run's error will come.
func (m *fakeMaster) join(b *Boomer, classes ...*UserClass) (string, <-chan error) {
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(context.Background(), classes...) }()
	m.expect("client_ready", nil)
	node := b.NodeID()
	m.send(node, "ack", map[string]any{"index": 0})
	return node, runErr
}

func userCount(t *testing.T, m message) int64 {
	n, _ := asInt(dataMap(t, m)["user_count"])
	return n
}

func spawnMsg(counts map[string]any, ts float64) map[string]any {
	return map[string]any{"user_classes_count": counts, "host": "http://spawn-host", "stop_timeout": nil,
		"timestamp": ts, "parsed_options": map[string]any{"target": "epoll"}}
}

func TestWorkerProtocol(t *testing.T) {
	port := testbin.FreePort(t)
	before := runtime.NumGoroutine()
	m := newFakeMaster(t, port)

	var live atomic.Int64 // users between OnStart and OnStop
	var hosts atomic.Value
	class := &UserClass{
		Name:    "W",
		OnStart: func(u *User) error { live.Add(1); hosts.Store(u.Host); return nil },
		OnStop:  func(*User) { live.Add(-1) },
		Tasks: []Task{{Name: "t", Fn: func(u *User) {
			u.RecordSuccess("GET", "/w", time.Millisecond, 1)
			u.RecordFailure("GET", "/w", time.Millisecond, "ConnectionRefusedError(111, 'Connection refused')")
		}}},
		Wait: Constant(5 * time.Millisecond),
	}
	b := NewBoomer(Options{
		MasterHost: "127.0.0.1", MasterPort: port,
		ReportInterval:    200 * time.Millisecond,
		HeartbeatTimeout:  1500 * time.Millisecond,
		MasterGoneTimeout: time.Second,
		ResolveHost: func(h string, opts map[string]any) (string, error) {
			return fmt.Sprintf("%s/%v", h, opts["target"]), nil
		},
	})
	node := b.NodeID()
	if !strings.Contains(node, "_") || len(node) < 34 {
		t.Errorf("node id %q is not <hostname>_<uuid hex>", node)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(context.Background(), class) }()

	ready := m.expect("client_ready", nil)
	if v, _ := asInt(ready.Data); v != -1 {
		t.Errorf("client_ready carries %#v, want -1", ready.Data)
	}
	m.send(node, "ack", map[string]any{"index": 0})
	hb := m.expect("heartbeat", nil)
	if d := dataMap(t, hb); d["state"] != stateReady || d["current_memory_usage"] == nil || d["current_cpu_usage"] == nil {
		t.Errorf("heartbeat %v", d)
	}

	m.send(node, "spawn", spawnMsg(map[string]any{"W": 3}, 10))
	m.expect("spawning", nil)
	if n := userCount(t, m.expect("spawning_complete", nil)); n != 3 {
		t.Errorf("spawning_complete with %d users, want 3", n)
	}
	if h, _ := hosts.Load().(string); h != "http://spawn-host/epoll" {
		t.Errorf("users got host %q", h)
	}
	m.expect("heartbeat", func(m message) bool { return dataMap(t, m)["state"] == stateRunning })

	// A spawn that is not newer is ignored.
	m.send(node, "spawn", spawnMsg(map[string]any{"W": 5}, 10))
	m.expect("spawning", nil)
	m.send(node, "spawn", spawnMsg(map[string]any{"W": 1, "Nope": 2, "Zero": 0}, 11))
	exc := m.expect("exception", nil)
	if msg, _ := dataMap(t, exc)["msg"].(string); !strings.Contains(msg, `"Nope"`) || !strings.Contains(msg, "W") || strings.Contains(msg, "Zero") {
		t.Errorf("unknown class exception %q", msg)
	}
	if n := userCount(t, m.expect("spawning_complete", nil)); n != 1 {
		t.Errorf("spawning_complete with %d users after the stale spawn, want 1", n)
	}

	// Stats arrive as deltas with the error keyed as Locust keys it.
	st := m.expect("stats", func(m message) bool {
		d, _ := asStringMap(m.Data)
		stats, _ := d["stats"].([]any)
		return len(stats) > 0
	})
	d := dataMap(t, st)
	errs, _ := asStringMap(d["errors"])
	key := errorKey("GET", "/w", "ConnectionRefusedError(111, 'Connection refused')")
	if _, ok := errs[key]; !ok {
		t.Errorf("errors %v lack key %s", errs, key)
	}
	if classes, _ := asStringMap(d["user_classes_count"]); classes["W"] == nil {
		t.Errorf("user_classes_count %v", d["user_classes_count"])
	}

	// stop -> client_stopped -> client_ready; users end.
	m.send(node, "stop", nil)
	m.expect("client_stopped", nil)
	m.expect("client_ready", nil)
	if n := live.Load(); n != 0 {
		t.Errorf("%d users live after stop", n)
	}

	// Many spawn/stop cycles leave nothing behind.
	mid := runtime.NumGoroutine()
	for i := range 20 {
		m.send(node, "spawn", spawnMsg(map[string]any{"W": 5 + i%3}, float64(100+i)))
		m.expect("spawning_complete", nil)
		m.send(node, "stop", nil)
		m.expect("client_stopped", nil)
		m.expect("client_ready", nil)
	}
	waitGoroutines(t, mid)

	// Custom messages reach handlers; "reconnect" makes a new connection.
	got := make(chan any, 1)
	b.RegisterMessage("hello", func(d any) { got <- d })
	m.send(node, "hello", "there")
	select {
	case d := <-got:
		if d != "there" {
			t.Errorf("custom message data %#v", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("custom message handler not called")
	}
	if err := b.SendMessage("from_worker", map[string]any{"x": int64(1)}); err != nil {
		t.Fatal(err)
	}
	m.expect("from_worker", nil)
	m.send(node, "reconnect", nil)
	m.expect("client_ready", nil)
	m.send(node, "ack", map[string]any{"index": 0})

	// A master that sent heartbeats and then goes silent is reconnected to.
	m.send(node, "heartbeat", nil)
	m.expect("client_ready", nil)
	m.send(node, "ack", map[string]any{"index": 0})

	// A master gone for longer than MasterGoneTimeout: users stop; a new
	// master gets client_ready and can start a new test.
	m.send(node, "spawn", spawnMsg(map[string]any{"W": 2}, 500))
	m.expect("spawning_complete", nil)
	m.close()
	deadline := time.Now().Add(20 * time.Second)
	for live.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d users still live with the master gone", live.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m = newFakeMaster(t, port)
	defer m.close()
	m.expect("client_ready", nil)
	m.send(node, "ack", map[string]any{"index": 0})
	m.send(node, "spawn", spawnMsg(map[string]any{"W": 2}, 600))
	if n := userCount(t, m.expect("spawning_complete", nil)); n != 2 {
		t.Errorf("spawning_complete with %d users on the new master, want 2", n)
	}

	// quit: final stats, Run returns, nothing left running.
	m.send(node, "quit", nil)
	m.expect("stats", nil)
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after quit")
	}
	if n := live.Load(); n != 0 {
		t.Errorf("%d users live after quit", n)
	}
	m.close()
	waitGoroutines(t, before)
}

func TestWorkerQuitWithoutMaster(t *testing.T) {
	before := runtime.NumGoroutine()
	b := NewBoomer(Options{MasterHost: "127.0.0.1", MasterPort: testbin.FreePort(t)})
	runErr := make(chan error, 1)
	go func() {
		runErr <- b.Run(context.Background(), &UserClass{Name: "X", Tasks: []Task{{Name: "t", Fn: idle}}})
	}()
	b.Quit()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after Quit")
	}
	waitGoroutines(t, before)
}

// On quit the master waits only briefly for final reports, so the report
// must leave before the worker waits for its users: here a user whose task
// ignores User.Ctx ends 2 s after quit, and the report of what it recorded
// before must arrive while it still runs. What it records while ending is
// dropped, as a Python worker drops its killed users' requests, so the
// report holds the whole test. The user saw the master's options.
func TestQuitReportsBeforeWaitingForUsers(t *testing.T) {
	port := testbin.FreePort(t)
	m := newFakeMaster(t, port)
	defer m.close()
	var recorded, ended atomic.Bool
	var opts atomic.Value
	quitSent := make(chan struct{})
	class := &UserClass{Name: "Q", Tasks: []Task{{Name: "t", Fn: func(u *User) {
		if recorded.Load() {
			<-u.Ctx.Done()
			return
		}
		opts.Store(u.Options)
		u.RecordSuccess("GET", "/q", time.Millisecond, 1)
		recorded.Store(true)
		<-quitSent
		time.Sleep(2 * time.Second) // a task that does not heed User.Ctx
		u.RecordSuccess("GET", "/late", time.Millisecond, 1)
		ended.Store(true)
	}}}}
	b := NewBoomer(Options{MasterHost: "127.0.0.1", MasterPort: port, ReportInterval: time.Hour})
	node, runErr := m.join(b, class)
	m.send(node, "spawn", spawnMsg(map[string]any{"Q": 1}, 1))
	m.expect("spawning_complete", nil)
	for !recorded.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	m.send(node, "quit", nil)
	close(quitSent)
	final := m.expect("stats", nil)
	if ended.Load() {
		t.Errorf("the final report left only after the user ended")
	}
	tot, _ := asStringMap(dataMap(t, final)["stats_total"])
	if n, _ := asInt(tot["num_requests"]); n != 1 {
		t.Errorf("the final report counts %d requests, want 1", n)
	}
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	if !ended.Load() {
		t.Errorf("Run returned before its user ended")
	}
	for len(m.msgs) > 0 {
		if msg := <-m.msgs; msg.Type == "stats" {
			t.Errorf("a report after the final one: %v", msg.Data)
		}
	}
	if o, _ := opts.Load().(map[string]any); o["target"] != "epoll" {
		t.Errorf("User.Options %v, want the spawn message's parsed_options", o)
	}
}

// With AwaitClasses, a spawn sent right after the ack waits for the
// classes the OnConnected hook asked for; new classes stop the users of
// those that are gone, and a reason given for a class reaches the master.
func TestSpawnWaitsForClasses(t *testing.T) {
	port := testbin.FreePort(t)
	m := newFakeMaster(t, port)
	defer m.close()
	var started atomic.Int64
	class := func(name string) *UserClass {
		return &UserClass{Name: name, Wait: Constant(5 * time.Millisecond),
			OnStart: func(*User) error { started.Add(1); return nil },
			Tasks:   []Task{{Name: "t", Fn: func(u *User) { u.RecordSuccess("GET", "/"+u.Class, time.Millisecond, 1) }}}}
	}
	b := NewBoomer(Options{MasterHost: "127.0.0.1", MasterPort: port, AwaitClasses: 20 * time.Second,
		ReportInterval: 100 * time.Millisecond})
	b.RegisterMessage("classes", func(data any) {
		names, _ := data.([]any)
		var cs []*UserClass
		for _, n := range names {
			cs = append(cs, class(n.(string)))
		}
		if err := b.SetClasses(cs, map[string]string{"Py": "Python code"}); err != nil {
			t.Error(err)
		}
	})
	b.OnConnected(func() { b.SendMessage("give_classes", nil) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	node := b.NodeID()

	m.expect("client_ready", nil)
	m.send(node, "ack", map[string]any{"index": 0})
	m.send(node, "spawn", spawnMsg(map[string]any{"A": 2, "Py": 1}, 1))
	m.expect("give_classes", nil)
	time.Sleep(200 * time.Millisecond)
	if n := started.Load(); n != 0 {
		t.Fatalf("%d users started before the classes came", n)
	}
	m.send(node, "classes", []any{"A"})
	if msg, _ := dataMap(t, m.expect("exception", nil))["msg"].(string); msg != "user class Py cannot run on a Go worker: Python code" {
		t.Errorf("exception %q", msg)
	}
	if n := userCount(t, m.expect("spawning_complete", nil)); n != 2 {
		t.Errorf("spawning_complete with %d users, want 2", n)
	}
	m.expect("stats", func(s message) bool { return userCount(t, s) == 2 })

	// New classes: A is gone, its users stop; B runs.
	m.send(node, "classes", []any{"B"})
	m.expect("stats", func(s message) bool { return userCount(t, s) == 0 })
	m.send(node, "spawn", spawnMsg(map[string]any{"B": 1}, 2))
	if n := userCount(t, m.expect("spawning_complete", nil)); n != 1 {
		t.Errorf("spawning_complete with %d users, want 1", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A gap between heartbeats long enough for the master to give the worker
// up is told with what the worker did meanwhile: kept from a CPU, running
// or ready to run all along, or neither (something else held the heartbeat
// back).
func TestBeatGapSaysWhy(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var g beatGap
	if _, late := g.next(t0, 0, 0, true); late {
		t.Fatal("the first heartbeat is late")
	}
	if msg, late := g.next(t0.Add(time.Second), 10*time.Millisecond, 0, true); late {
		t.Fatalf("a heartbeat a second after the last: %s", msg)
	}
	for _, c := range []struct {
		gap, cpu, wait time.Duration
		known          bool
		want           string
	}{
		{4 * time.Second, 100 * time.Millisecond, 3500 * time.Millisecond, true, "for 4s (a master's default limit is 4 to 5 s); meanwhile this worker used 100ms of CPU and its threads waited 3.5s for one: it was ready to run but got no CPU"},
		{3 * time.Second, 2900 * time.Millisecond, 50 * time.Millisecond, true, "used 2.9s of CPU and its threads waited 50ms for one: it was running or ready to run all along"},
		{3700 * time.Millisecond, 2640 * time.Millisecond, 1370 * time.Millisecond, true, "used 2.64s of CPU and its threads waited 1.37s for one: it was running or ready to run all along, its users' work ahead of the heartbeat"},
		{5 * time.Second, 20 * time.Millisecond, 10 * time.Millisecond, true, "waited 10ms for one: neither busy nor kept from a CPU, so a send to the master or a lock held the heartbeat back"},
		{2 * time.Second, 20 * time.Millisecond, 0, false, "for 2s (a master's default limit is 4 to 5 s); meanwhile this worker used 20ms of CPU"},
	} {
		prev := g
		msg, late := g.next(prev.at.Add(c.gap), prev.cpu+c.cpu, prev.wait+c.wait, c.known)
		if !late || !strings.Contains(msg, c.want) || !c.known && strings.Contains(msg, "waited") {
			t.Errorf("gap %s, cpu %s, wait %s (known %v): %q, want it to hold %q", c.gap, c.cpu, c.wait, c.known, msg, c.want)
		}
	}
	if w, ok := runWait(); !ok || w < 0 {
		t.Errorf("runWait() = %v, %v: this process's threads' schedstat unread", w, ok)
	}
}

// The master's --reset-stats: what the users recorded before the master's
// spawning_complete (here their on_start requests) is not reported, as
// the master forgets it then; without the option it is.
func TestResetStatsFromMaster(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprint("reset_stats=", reset), func(t *testing.T) {
			port := testbin.FreePort(t)
			m := newFakeMaster(t, port)
			defer m.close()
			started := make(chan struct{}, 2)
			class := &UserClass{Name: "R", Wait: Constant(5 * time.Millisecond),
				OnStart: func(u *User) error {
					u.RecordSuccess("GET", "start", time.Millisecond, 1)
					started <- struct{}{}
					return nil
				},
				Tasks: []Task{{Name: "t", Fn: func(u *User) { u.RecordSuccess("GET", "page", time.Millisecond, 1) }}}}
			b := NewBoomer(Options{MasterHost: "127.0.0.1", MasterPort: port, ReportInterval: time.Hour})
			node, runErr := m.join(b, class)
			spawn := spawnMsg(map[string]any{"R": 2}, 1)
			spawn["parsed_options"] = map[string]any{"reset_stats": reset}
			m.send(node, "spawn", spawn)
			m.expect("spawning_complete", nil)
			<-started
			<-started
			m.send(node, "spawning_complete", map[string]any{"user_count": 2})
			m.send(node, "stop", nil)
			st := m.expect("stats", nil)
			var names []string
			stats, _ := dataMap(t, st)["stats"].([]any)
			for _, e := range stats {
				row, _ := asStringMap(e)
				if n, _ := row["name"].(string); n != "" {
					names = append(names, n)
				}
			}
			if slices.Contains(names, "start") == reset {
				t.Errorf("the report after the ramp-up has rows %q", names)
			}
			m.send(node, "quit", nil)
			if err := <-runErr; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A spawn that stops users gracefully (the master's stop_timeout) is
// complete once their task has ended, as on a Python worker: until then
// the worker's reports count them, and spawning_complete waits.
func TestGracefulStopCompletesWhenTheTaskEnds(t *testing.T) {
	port := testbin.FreePort(t)
	m := newFakeMaster(t, port)
	defer m.close()
	release := make(chan struct{})
	var inTask atomic.Int64
	class := &UserClass{Name: "G", Tasks: []Task{{Name: "t", Fn: func(u *User) {
		inTask.Add(1)
		select { // a task the graceful stop lets finish
		case <-release:
		case <-u.Ctx.Done():
		}
	}}}}
	b := NewBoomer(Options{MasterHost: "127.0.0.1", MasterPort: port, ReportInterval: 100 * time.Millisecond})
	node, runErr := m.join(b, class)
	spawn := spawnMsg(map[string]any{"G": 2}, 1)
	spawn["stop_timeout"] = 10.0
	m.send(node, "spawn", spawn)
	if n := userCount(t, m.expect("spawning_complete", nil)); n != 2 {
		t.Fatalf("spawning_complete with %d users, want 2", n)
	}
	for inTask.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	spawn = spawnMsg(map[string]any{"G": 0}, 2)
	spawn["stop_timeout"] = 10.0
	m.send(node, "spawn", spawn)
	m.expect("spawning", nil)
	last := int64(-1) // the users the latest report counts
	for wait, over := time.After(500*time.Millisecond), false; !over; {
		select {
		case msg := <-m.msgs:
			switch msg.Type {
			case "spawning_complete":
				t.Fatalf("spawning_complete while the stopped users' task runs: %v", msg.Data)
			case "stats":
				last = userCount(t, msg)
			}
		case <-wait:
			over = true
		}
	}
	if last != 2 {
		t.Errorf("the reports during the stop count %d users, want the 2 still in their task", last)
	}
	close(release)
	if n := userCount(t, m.expect("spawning_complete", nil)); n != 0 {
		t.Errorf("spawning_complete with %d users once their task ended, want 0", n)
	}
	m.send(node, "quit", nil)
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
}
