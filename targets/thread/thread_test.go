package thread_test

import (
	"net"
	"testing"

	"serverlab/internal/proctest"
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
	// A locked goroutine may take a thread the runtime already had idle,
	// so the count need not grow by n; but the n threads blocked in read(2)
	// are distinct, and the runtime keeps at least sysmon and the accepting
	// thread besides them.
	if now := threads(); now < n+2 {
		t.Fatalf("%v OS threads with %d idle connections open, want at least %d", now, n, n+2)
	}
	for _, c := range conns {
		c.Close()
	}
	proctest.Eventually(t, "the connections' threads gone", func() bool { return threads() < base+n/2 })
}
