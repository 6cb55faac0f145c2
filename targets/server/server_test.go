package server

import (
	"bytes"
	"errors"
	"log"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStatsSharedBetweenMappings(t *testing.T) {
	var buf bytes.Buffer
	parent, err := newStats(-1, log.New(&buf, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	// A child maps the parent's memfd; here, a second mapping of it.
	child, err := newStats(parent.fd, log.New(&buf, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	parent.Accepted()
	child.Accepted()
	child.Request()
	child.Response(200)
	child.Response(404)
	child.Response(999)
	child.Closed()
	sn := parent.Snapshot()
	if sn.Accepted != 2 || sn.Closed != 1 || sn.Requests != 1 {
		t.Fatalf("snapshot %+v", sn)
	}
	if sn.Responses[200] != 1 || sn.Responses[404] != 1 || sn.Responses[0] != 1 {
		t.Fatalf("responses %v", sn.Responses)
	}
}

func TestAcceptErrorBacksOffAndLogsOncePerSecond(t *testing.T) {
	var buf bytes.Buffer
	s, err := newStats(-1, log.New(&buf, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	var last time.Duration
	for i := 0; i < 10; i++ {
		d := s.AcceptError(unix.EMFILE)
		if d < last || d == 0 || d > 200*time.Millisecond {
			t.Fatalf("back-off %d: %v after %v", i, d, last)
		}
		last = d
	}
	if last != maxBackoff {
		t.Fatalf("back-off did not grow to its cap: %v", last)
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines for 10 errors within a second:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "EMFILE") {
		t.Fatalf("log does not name EMFILE: %s", buf.String())
	}
	if s.Snapshot().AcceptErrors[unix.EMFILE] != 10 {
		t.Fatalf("counted %v", s.Snapshot().AcceptErrors)
	}
	s.AcceptOK()
	if d := s.AcceptError(unix.EMFILE); d != 5*time.Millisecond {
		t.Fatalf("back-off after success: %v", d)
	}
	if d := s.AcceptError(unix.EAGAIN); d != 0 {
		t.Fatalf("EAGAIN backs off %v", d)
	}
	if d := s.AcceptError(unix.ECONNABORTED); d != 0 {
		t.Fatalf("ECONNABORTED backs off %v", d)
	}
}

func TestListenIsExclusiveAndListenSharedJoins(t *testing.T) {
	fd, addr, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("bound address %s", addr)
	}
	// The reactor's other loops join the first listener.
	fd2, addr2, err := ListenShared(addr)
	if err != nil {
		t.Fatalf("shared listener on %s: %v", addr, err)
	}
	defer unix.Close(fd2)
	if addr2 != addr {
		t.Fatalf("%s != %s", addr2, addr)
	}
	// A second target does not.
	fd3, _, err := Listen(addr)
	if err == nil {
		unix.Close(fd3)
		t.Fatalf("a second exclusive listener on %s was allowed", addr)
	}
	if !errors.Is(err, unix.EADDRINUSE) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("second listener: %v; want address already in use naming %s", err, addr)
	}
	if _, _, err := Listen("nonsense"); err == nil {
		t.Fatal("bad address accepted")
	}
}

func TestConnsDrainWakesBlockedRead(t *testing.T) {
	fd, addr, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	client, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(conn)
	c := newConns()
	c.Track(conn)
	got := make(chan int, 1)
	go func() {
		n, _ := unix.Read(conn, make([]byte, 10))
		got <- n
	}()
	time.Sleep(50 * time.Millisecond)
	c.drain()
	select {
	case n := <-got:
		if n != 0 {
			t.Fatalf("read %d bytes, want end-of-file", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("drain did not wake the blocked read")
	}
}
