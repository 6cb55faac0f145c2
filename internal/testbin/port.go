package testbin

import (
	"net"
	"testing"
)

// FreePort returns a loopback port nobody listens on right now, for a
// process that must be told its port before it starts (a Locust master).
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
