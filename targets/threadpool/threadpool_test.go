package threadpool_test

import (
	"net"
	"testing"
	"time"

	"serverlab/internal/proctest"
)

// With every thread busy and the queue full the model stops accepting:
// 2 threads serving, 2 connections queued and 1 in the accepter's hands;
// the rest wait in the kernel's backlog until a thread is free.
func TestQueueIsBounded(t *testing.T) {
	tg := proctest.Start(t, "threadpool", "--workers", "2")
	conns := make([]net.Conn, 8)
	for i := range conns {
		conns[i] = tg.Dial() // idle: each one holds a thread blocked in read(2)
	}
	accepted := func() float64 { return tg.Metric("serverlab_connections_accepted_total") }
	proctest.Eventually(t, "5 connections accepted", func() bool { return accepted() >= 5 })
	// Give an unbounded accepter the chance to take the other three.
	time.Sleep(300 * time.Millisecond)
	if n := accepted(); n != 5 {
		t.Fatalf("%v connections accepted with 2 threads busy, want 5 (2 serving + 2 queued + 1 waiting to queue)", n)
	}
	// A thread freed takes the next queued connection, which makes room
	// for exactly one more.
	conns[0].Close()
	proctest.Eventually(t, "a 6th connection accepted", func() bool { return accepted() == 6 })
	time.Sleep(300 * time.Millisecond)
	if n := accepted(); n != 6 {
		t.Fatalf("%v connections accepted after one closed, want 6", n)
	}
	// The last connection, still in the backlog, is served once the
	// others are gone.
	for _, c := range conns[1 : len(conns)-1] {
		c.Close()
	}
	if st, _ := proctest.Get(t, conns[len(conns)-1], "/", false); st != 200 {
		t.Fatalf("GET / on the last connection: status %d", st)
	}
}
