package goroutine_test

import (
	"net"
	"testing"
	"time"

	"serverlab/internal/proctest"
)

// Open connections cost goroutines, not OS threads: many idle keep-alive
// clients are held by a handful of threads.
func TestConnectionsDoNotCostThreads(t *testing.T) {
	tg := proctest.Start(t, "goroutine")
	const n = 60
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = tg.Dial()
		if st, _ := proctest.Get(t, conns[i], "/", false); st != 200 {
			t.Fatalf("GET /: status %d", st)
		}
	}
	if th := tg.Metric("serverlab_os_threads"); th >= n/2 {
		t.Errorf("%v OS threads for %d idle connections, want far fewer", th, n)
	}
	// Every connection is still served.
	for _, c := range conns {
		if st, _ := proctest.Get(t, c, "/style.css", false); st != 200 {
			t.Fatalf("GET /style.css: status %d", st)
		}
	}
	// SIGTERM ends idle keep-alive connections instead of waiting out their
	// 60 s idle timeout.
	tg.Stop(10 * time.Second)
	for _, c := range conns[:3] {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Errorf("idle connection after shutdown: read %d bytes, %v; want end-of-file", n, err)
		}
	}
}
