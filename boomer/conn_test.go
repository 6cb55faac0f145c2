package boomer

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A master that stops reading (frozen: its kernel still holds the
// connection) fills the kernel's buffers; a send then ends at its deadline
// with a SendTimeoutError instead of holding the worker's heartbeats and
// timeouts behind it, and the connection is done: later sends fail at
// once rather than write after half a frame.
func TestSendToAPeerThatNeverReadsTimesOut(t *testing.T) {
	block := make(chan struct{})
	m := newRawMaster(t, func(*rawMaster, net.Conn) { <-block })
	t.Cleanup(func() { close(block) })
	conn, err := dialMaster(context.Background(), "127.0.0.1", m.port(), "node", 5*time.Second, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.close()
	big := strings.Repeat("s", 1<<20)
	done := make(chan error, 1)
	go func() {
		// Loopback's buffers hold a few MiB at most: 256 MiB must block.
		for range 256 {
			if err := conn.send("stats", big); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var sendErr error
	select {
	case sendErr = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("a send to a master that never reads did not end")
	}
	var to *SendTimeoutError
	if !errors.As(sendErr, &to) || to.Type != "stats" {
		t.Fatalf("send: %v, want a SendTimeoutError for stats", sendErr)
	}
	if err := conn.send("heartbeat", nil); err == nil || !errors.As(err, &to) {
		t.Errorf("a send after the timeout: %v, want it refused, naming the timeout", err)
	}
	if why := conn.why(errors.New("recv ended")); !strings.Contains(why, "it stopped reading") {
		t.Errorf("why = %q, want the send timeout", why)
	}
}

// A master that hangs up: zmq4 soon drops the connection and then takes
// messages without writing them anywhere. Sends must fail, or their stats
// would count as delivered.
func TestSendAfterTheMasterHangsUpFails(t *testing.T) {
	m := newRawMaster(t, func(_ *rawMaster, c net.Conn) {
		io.CopyN(io.Discard, c, 64) // the worker's greeting: the dial completes
		time.Sleep(200 * time.Millisecond)
		c.Close()
	})
	conn, err := dialMaster(context.Background(), "127.0.0.1", m.port(), "node", 5*time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.close()
	waitFor(t, "a send to fail", 30*time.Second, func() bool {
		return conn.send("stats", map[string]any{"x": 1}) != nil
	})
	if err := conn.send("stats", nil); err == nil {
		t.Error("a send after a failed one succeeded")
	}
}

// Dialing stops with ctx, but a connection made goes on after ctx ends:
// the worker told to stop still sends its final stats on it.
func TestConnectionOutlivesTheDialContext(t *testing.T) {
	m := newRawMaster(t, func(*rawMaster, net.Conn) {})
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := dialMaster(ctx, "127.0.0.1", m.port(), "node", 5*time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.close()
	cancel()
	if err := conn.send("stats", map[string]any{"x": 1}); err != nil {
		t.Errorf("send after the dial's context ended: %v", err)
	}
	if _, err := dialMaster(ctx, "127.0.0.1", m.port(), "node", 5*time.Second, time.Second); err == nil {
		t.Error("a dial with an ended context connected")
	}
}
