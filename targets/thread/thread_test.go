package thread_test

import (
	"net"
	"testing"

	"serverlab/targets/process/proctest"
)

// Each connection has an OS thread of its own, idle ones included, and the
// thread ends with its connection.
func TestThreadPerConnection(t *testing.T) {
	tg := proctest.Start(t, "thread")
	threads := func() float64 { return tg.Metric("serverlab_os_threads") }
	base := threads()
	const n = 30
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = tg.Dial()
		if st, _ := proctest.Get(t, conns[i], "/", false); st != 200 {
			t.Fatalf("GET /: status %d", st)
		}
	}
	if now := threads(); now < base+n {
		t.Fatalf("%v OS threads with %d idle connections open, want at least %v", now, n, base+n)
	}
	for _, c := range conns {
		c.Close()
	}
	proctest.Eventually(t, "the connections' threads gone", func() bool { return threads() < base+n/2 })
}
