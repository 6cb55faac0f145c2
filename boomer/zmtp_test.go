package boomer

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/testbin"
)

// zmtpGreeting is a ZMTP 3.0 greeting with the NULL mechanism, as a
// server (the master's ROUTER binds).
func zmtpGreeting() []byte {
	g := make([]byte, 64)
	g[0], g[9] = 0xff, 0x7f
	g[10], g[11] = 3, 0
	copy(g[12:], "NULL")
	g[32] = 1
	return g
}

// zmtpFrame encodes one frame: flags (bit 2 for a command) and a size in
// one byte or, past 255, in eight.
func zmtpFrame(command bool, body []byte) []byte {
	var flags byte
	if command {
		flags |= 0x04
	}
	var b []byte
	if len(body) > 255 {
		b = append(b, flags|0x02)
		b = binary.BigEndian.AppendUint64(b, uint64(len(body)))
	} else {
		b = append(b, flags, byte(len(body)))
	}
	return append(b, body...)
}

// zmtpReady is a READY command from a ROUTER.
func zmtpReady() []byte {
	body := []byte("\x05READY\x0bSocket-Type\x00\x00\x00\x06ROUTER")
	return zmtpFrame(true, body)
}

// rawMaster speaks just enough ZMTP over plain TCP to play a hostile or
// frozen master: it greets, sends what a test scripts, and never reads
// what the worker sends beyond discarding it.
type rawMaster struct {
	ln       net.Listener
	script   func(m *rawMaster, c net.Conn) // runs on each connection after the handshake
	silent   atomic.Bool                    // new connections get no greeting
	accepted atomic.Int64
	open     atomic.Int64 // silent connections the worker has not closed
	wg       sync.WaitGroup
}

func newRawMaster(t *testing.T, script func(m *rawMaster, c net.Conn)) *rawMaster {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &rawMaster{ln: ln, script: script}
	var conns sync.Map
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			m.accepted.Add(1)
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				defer c.Close()
				if m.silent.Load() {
					m.open.Add(1)
					io.Copy(io.Discard, c) // until the worker gives up
					m.open.Add(-1)
					return
				}
				c.Write(zmtpGreeting())
				c.Write(zmtpReady())
				m.script(m, c)
				io.Copy(io.Discard, c) // until the worker hangs up

			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		m.wg.Wait()
	})
	return m
}

func (m *rawMaster) port() int { return m.ln.Addr().(*net.TCPAddr).Port }

// sendMsg writes a Locust message as one ZMTP frame.
func sendMsg(t *testing.T, c net.Conn, typ string, data any) {
	b, err := encodeMessage(message{Type: typ, Data: data, NodeID: "master"})
	if err != nil {
		t.Error(err)
		return
	}
	c.Write(zmtpFrame(false, b))
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runWorkerAgainst(t *testing.T, port int, opts Options, classes ...*UserClass) (*testbin.Output, func()) {
	t.Helper()
	var logs testbin.Output
	opts.MasterHost, opts.MasterPort = "127.0.0.1", port
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	b := NewBoomer(opts)
	if len(classes) == 0 {
		classes = []*UserClass{{Name: "X", Tasks: []Task{{Name: "t", Fn: idle}}}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, classes...) }()
	return &logs, func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return")
		}
	}
}

// A frame announcing more than the worker takes ends that connection
// before zmq4 allocates it: the reason is logged and the worker dials
// again. 2^40 took all memory, 2^63-1 panicked in zmq4.
func TestOversizedFrameEndsTheConnection(t *testing.T) {
	for _, size := range []uint64{1 << 40, 1<<63 - 1, maxFrameSize + 1} {
		hdr := binary.BigEndian.AppendUint64([]byte{0x02}, size)
		m := newRawMaster(t, func(_ *rawMaster, c net.Conn) { c.Write(hdr) })
		logs, stop := runWorkerAgainst(t, m.port(), Options{})
		waitFor(t, "the worker dialled again", 30*time.Second, func() bool { return m.accepted.Load() >= 2 })
		stop()
		want := "master announced a ZMTP frame of " + itoa(size) + " bytes, over the limit of 67108864"
		if !strings.Contains(logs.String(), "lost master, reconnecting") || !strings.Contains(logs.String(), want) {
			t.Errorf("size %d: logs lack the reconnect and %q:\n%s", size, want, logs.String())
		}
	}
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// A frame just at the limit is no reason to hang up, and frames are
// followed across reads of any size: a greeting, a command and messages
// fed one byte at a time.
func TestLimitConnFollowsFramesAcrossReads(t *testing.T) {
	var stream []byte
	stream = append(stream, zmtpGreeting()...)
	stream = append(stream, zmtpReady()...)
	stream = append(stream, zmtpFrame(false, bytes.Repeat([]byte("m"), 300))...)
	stream = append(stream, zmtpFrame(false, nil)...)
	stream = append(stream, zmtpFrame(false, []byte("short"))...)
	stream = append(stream, binary.BigEndian.AppendUint64([]byte{0x02}, 301)...)
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		for _, c := range stream {
			if _, err := b.Write([]byte{c}); err != nil {
				return
			}
		}
		b.Close()
	}()
	lc := newLimitConn(a, 300, 0)
	got, err := io.ReadAll(lc)
	var big *FrameTooLargeError
	if !asErr(err, &big) || big.Size != 301 || big.Max != 300 {
		t.Fatalf("ReadAll: %v, want a FrameTooLargeError of 301 over 300", err)
	}
	if want := len(stream) - 1; len(got) != want {
		t.Errorf("passed %d bytes, want %d: all but the last byte of the oversized header", len(got), want)
	}
}

func asErr(err error, target **FrameTooLargeError) bool {
	e, ok := err.(*FrameTooLargeError)
	if ok {
		*target = e
	}
	return ok
}

// A peer that accepts and never greets fails the dial after the
// handshake timeout, with a log line, instead of holding it forever.
func TestSilentPeerFailsTheHandshake(t *testing.T) {
	m := newRawMaster(t, nil)
	m.silent.Store(true)
	logs, stop := runWorkerAgainst(t, m.port(), Options{})
	defer stop()
	waitFor(t, "the worker logged the silent master and dialled again", 30*time.Second, func() bool {
		return m.accepted.Load() >= 2 && strings.Contains(logs.String(), "no ZMTP handshake from master within 5s")
	})
}

// A frozen master (SIGSTOP: its kernel still completes connects, nothing
// answers): once MasterGoneTimeout is over the users stop, even while the
// worker's dial to it is still waiting for a greeting.
func TestUsersStopWhileTheFrozenMasterHoldsTheDial(t *testing.T) {
	var live atomic.Int64
	class := &UserClass{
		Name:    "W",
		OnStart: func(*User) error { live.Add(1); return nil },
		OnStop:  func(*User) { live.Add(-1) },
		Tasks:   []Task{{Name: "t", Fn: idle}},
	}
	m := newRawMaster(t, func(m *rawMaster, c net.Conn) {
		sendMsg(t, c, "ack", map[string]any{"index": 0})
		sendMsg(t, c, "heartbeat", nil)
		sendMsg(t, c, "spawn", spawnMsg(map[string]any{"W": 3}, 100))
		// Frozen from now on: this connection says nothing more, and
		// new ones get no greeting.
		m.silent.Store(true)
	})
	_, stop := runWorkerAgainst(t, m.port(), Options{HeartbeatTimeout: 1500 * time.Millisecond, MasterGoneTimeout: time.Second}, class)
	defer stop()
	waitFor(t, "users started", 30*time.Second, func() bool { return live.Load() == 3 })
	waitFor(t, "the worker dialled the frozen master", 30*time.Second, func() bool { return m.open.Load() > 0 })
	waitFor(t, "users stopped", 30*time.Second, func() bool { return live.Load() == 0 })
	if m.open.Load() == 0 {
		t.Error("the users stopped only once the dial to the frozen master had ended")
	}
}

// More users than descriptors: one warning with both numbers, before any
// user starts; within the limit, none.
func TestWarnDescriptors(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var logs testbin.Output
	b := NewBoomer(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if b.warnDescriptors(10) {
		t.Errorf("10 users warned under a limit of %d: %s", lim.Cur, logs.String())
	}
	users := int64(lim.Cur) + 5
	if !b.warnDescriptors(users) {
		t.Fatalf("%d users under a limit of %d: no warning", users, lim.Cur)
	}
	want := fmt.Sprintf("%d users need a connection each, the open-files limit %d leaves room for %d", users, lim.Cur, lim.Cur-fdHeadroom)
	if !strings.Contains(logs.String(), want) || strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("logged %q, want one line with %q", logs.String(), want)
	}

	// The ports of the source addresses bound the connections to one
	// target as the descriptors do.
	var portLogs testbin.Output
	b = NewBoomer(Options{Logger: slog.New(slog.NewTextHandler(&portLogs, nil)), Ports: 5})
	if b.warnDescriptors(5) {
		t.Errorf("5 users with 5 ports warned: %s", portLogs.String())
	}
	if !b.warnDescriptors(6) {
		t.Fatal("6 users with 5 ports: no warning")
	}
	want = "6 users need a connection each to one target, their source addresses have 5 ephemeral ports for it"
	if !strings.Contains(portLogs.String(), want) || strings.Count(portLogs.String(), "\n") != 1 {
		t.Errorf("logged %q, want one line with %q", portLogs.String(), want)
	}
}
