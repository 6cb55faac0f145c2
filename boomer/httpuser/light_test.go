package httpuser

import (
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// tinyServer answers every request on a kept-alive connection with a
// fixed response, reading into a buffer on its goroutine's stack, so that
// what it holds per connection on the heap is the connection alone.
// A request for /hold is answered only once hold is closed.
func tinyServer(t *testing.T, addr string) (url string, peers func() map[string]int) {
	return holdingServer(t, addr, nil)
}

func holdingServer(t *testing.T, addr string, hold chan struct{}) (url string, peers func() map[string]int) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			seen[c.RemoteAddr().(*net.TCPAddr).IP.String()]++
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				var buf [512]byte
				for {
					n, err := c.Read(buf[:])
					if err != nil {
						return
					}
					if strings.HasPrefix(string(buf[:n]), "GET /hold ") {
						<-hold
					}
					if strings.HasSuffix(string(buf[:n]), "\r\n\r\n") {
						c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return "http://" + ln.Addr().String(), func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range seen {
			out[k] = v
		}
		return out
	}
}

// liveHeap is the heap in use once garbage is collected.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A user between requests keeps its connection and gives its buffers
// back: a thousand waiting users hold a few hundred bytes each on the
// heap, not the 6 KiB of a reader, a writer and request and response
// heads apiece.
func TestWaitingUsersHoldNoBuffers(t *testing.T) {
	url, _ := tinyServer(t, "127.0.0.1:0")
	const users = 1000
	// One round first, so that what is shared (the exchanges' pool, the
	// server's first goroutines) is there before the baseline.
	warm := newClient(t, url, Options{})
	var r recorder
	if err := warm.GET(&r, "/", ""); err != nil {
		t.Fatal(err)
	}
	before := liveHeap()
	clients := make([]*Client, users)
	for i := range clients {
		clients[i] = newClient(t, url, Options{ResponseTimeout: 10e9, ConnectTimeout: 5e9})
		if err := clients[i].GET(&r, "/", ""); err != nil {
			t.Fatal(err)
		}
	}
	after := liveHeap()
	per := int64(after-before) / users
	runtime.KeepAlive(clients)
	// The server's end of each connection is counted too. Users that kept
	// their buffers took 10 KiB each here.
	if per > 4096 {
		t.Errorf("%d waiting users, each with its connection open, grew the heap by %d bytes each, want at most 4096", users, per)
	}
	t.Logf("%d bytes of heap per waiting user, the server's end of its connection included", per)
}

// A user waiting for its response holds no buffer either: the reader is
// taken when the response's first bytes are there.
func TestUsersWaitingForAResponseHoldNoBuffers(t *testing.T) {
	hold := make(chan struct{})
	url, _ := holdingServer(t, "127.0.0.1:0", hold)
	const users = 1000
	var r recorder
	warm := newClient(t, url, Options{})
	if err := warm.GET(&r, "/", ""); err != nil {
		t.Fatal(err)
	}
	clients := make([]*Client, users)
	for i := range clients {
		clients[i] = newClient(t, url, Options{ResponseTimeout: 60e9, ConnectTimeout: 5e9})
	}
	before := liveHeap()
	errs := make(chan error, users)
	for _, c := range clients {
		go func() {
			var r recorder
			errs <- c.GET(&r, "/hold", "")
		}()
	}
	// Every request sent and waiting: the server's goroutines are all
	// parked in <-hold once each has read its request.
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() < 2*users && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	after := liveHeap()
	close(hold)
	for range users {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	per := int64(after-before) / users
	// The users' goroutines, their connections and the server's ends are
	// counted; a reader each would be 4 KiB more.
	if per > 4096 {
		t.Errorf("%d users waiting for their responses grew the heap by %d bytes each, want at most 4096", users, per)
	}
	t.Logf("%d bytes of heap per user waiting for its response", per)
}

// Users dial from the source addresses given, one each in turn, and keep
// theirs for every connection.
func TestSourcesSpreadUsers(t *testing.T) {
	url, peers := tinyServer(t, "127.0.0.1:0")
	src := NewSources([]netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")})
	var r recorder
	for range 6 {
		c := newClient(t, url, Options{Sources: src, Close: true})
		for range 2 {
			if err := c.GET(&r, "/", ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := peers()
	if got["127.0.0.2"] != 6 || got["127.0.0.3"] != 6 || len(got) != 2 {
		t.Errorf("connections by source address: %v, want 6 from each of 127.0.0.2 and 127.0.0.3", got)
	}
}

func TestParseSources(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{in: "127.0.0.2", want: "127.0.0.2"},
		{in: "127.0.0.2, 127.0.0.9", want: "127.0.0.2 127.0.0.9"},
		{in: "127.0.0.1-127.0.0.4", want: "127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4"},
		{in: "127.0.0.255-127.0.1.1", want: "127.0.0.255 127.0.1.0 127.0.1.1"},
		{in: "", err: "no source address given"},
		{in: "localhost", err: `source address "localhost": not an IP address`},
		{in: "127.0.0.4-127.0.0.1", err: `source range "127.0.0.4-127.0.0.1": want FIRST-LAST, IPv4, in order`},
		{in: "127.0.0.1-127.0.255.255", err: "more than 1024"},
	} {
		addrs, err := ParseSources(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseSources(%q) = %v, %v; want the error %q", c.in, addrs, err, c.err)
			}
			continue
		}
		var got []string
		for _, a := range addrs {
			got = append(got, a.String())
		}
		if err != nil || strings.Join(got, " ") != c.want {
			t.Errorf("ParseSources(%q) = %v, %v; want %s", c.in, got, err, c.want)
		}
	}
}
