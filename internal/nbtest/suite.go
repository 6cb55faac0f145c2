package nbtest

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// wait bounds every read that should succeed: generous, since the tests
// also run under the race detector on a loaded machine.
const wait = 20 * time.Second

// Suite checks the behaviour every event-loop model shares, with extra
// server flags args (the reactor's --workers).
func Suite(t *testing.T, args ...string) {
	// A short grace: the delayed request below is still in flight when
	// this server is stopped at the end, and must be cut off by it.
	tg := Start(t, append(args, "--shutdown-timeout", "1s")...)
	index := tg.File(t, "index.html")

	t.Run("KeepAlive", func(t *testing.T) {
		c := tg.Dial(t)
		for i := range 50 {
			c.Get("/")
			r := c.Read(wait)
			if r.Status != 200 || !bytes.Equal(r.Body, index) {
				t.Fatalf("request %d: status %d, %d bytes", i, r.Status, len(r.Body))
			}
		}
	})

	t.Run("Pipelined", func(t *testing.T) {
		c := tg.Dial(t)
		targets := []string{"/", "/style.css", "/nope", "/photo.jpg"}
		want := []int{200, 200, 404, 200}
		var b strings.Builder
		for range 25 {
			for _, tgt := range targets {
				b.WriteString(Request(tgt))
			}
		}
		c.Send(b.String())
		for i := range 25 * len(targets) {
			r := c.Read(wait)
			if r.Status != want[i%len(targets)] {
				t.Fatalf("response %d: status %d, want %d", i, r.Status, want[i%len(targets)])
			}
		}
	})

	t.Run("ManyConnections", func(t *testing.T) {
		const conns, reqs = 100, 10
		clients := make([]*Client, conns)
		for i := range clients {
			clients[i] = tg.Dial(t)
		}
		var wg sync.WaitGroup
		errs := make(chan string, conns)
		for _, c := range clients {
			wg.Go(func() {
				for range reqs {
					c.Get("/")
					r, err := c.TryRead(wait)
					if err != nil || r.Status != 200 || !bytes.Equal(r.Body, index) {
						errs <- "bad response or " + errString(err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
	})

	t.Run("DelayDoesNotBlockOthers", func(t *testing.T) {
		slow := tg.Dial(t)
		slow.Get("/delay?ms=10000")
		fast := tg.Dial(t)
		fast.Get("/")
		if r := fast.Read(wait); r.Status != 200 {
			t.Fatalf("status %d", r.Status)
		}
		// The slow response is due 10s after its request: none yet.
		slow.ExpectNothing(100 * time.Millisecond)
	})

	t.Run("LargeResponsesReadSlowly", func(t *testing.T) {
		photo := tg.File(t, "photo.jpg")
		c := tg.Dial(t)
		var b strings.Builder
		for range 20 {
			b.WriteString(Request("/photo.jpg"))
		}
		c.Send(b.String())
		// Read nothing for a while: the server's send buffer fills and it
		// must wait for the socket to become writable, serving others.
		other := tg.Dial(t)
		other.Get("/")
		if r := other.Read(wait); r.Status != 200 {
			t.Fatalf("other connection: status %d", r.Status)
		}
		for i := range 20 {
			r := c.Read(wait)
			if r.Status != 200 || !bytes.Equal(r.Body, photo) {
				t.Fatalf("response %d: status %d, %d bytes", i, r.Status, len(r.Body))
			}
		}
	})

	t.Run("ConnectionClose", func(t *testing.T) {
		c := tg.Dial(t)
		c.Send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		r := c.Read(wait)
		if r.Status != 200 || !strings.EqualFold(r.Header["connection"], "close") {
			t.Fatalf("status %d, Connection %q", r.Status, r.Header["connection"])
		}
		c.ExpectEOF(wait)
	})

	t.Run("ErrorResponseSurvivesUnreadInput", func(t *testing.T) {
		// A bad request followed by bytes the server never parses: it must
		// not reset the connection before the 400 is read.
		c := tg.Dial(t)
		c.Send("NOT HTTP\r\n\r\n" + strings.Repeat("junk ", 20000))
		if r := c.Read(wait); r.Status != 400 {
			t.Fatalf("status %d, want 400", r.Status)
		}
		c.ExpectEOF(wait)
	})

	t.Run("HalfClose", func(t *testing.T) {
		c := tg.Dial(t)
		c.Get("/")
		c.Conn.(interface{ CloseWrite() error }).CloseWrite()
		if r := c.Read(wait); r.Status != 200 {
			t.Fatalf("status %d", r.Status)
		}
		c.ExpectEOF(wait)
	})

	t.Run("GracefulShutdown", func(t *testing.T) {
		tg := Start(t, args...)
		idle := tg.Dial(t)
		idle.Get("/")
		idle.Read(wait)
		busy := tg.Dial(t)
		// One write: the server reads both requests at once, so once the
		// first is answered the delayed one is known to be in flight.
		busy.Send(Request("/") + Request("/delay?ms=500"))
		busy.Read(wait)
		tg.Signal(t)
		idle.ExpectEOF(wait)
		r := busy.Read(wait)
		if r.Status != 200 || string(r.Body) != "delayed 500 ms\n" {
			t.Fatalf("in-flight response: status %d, body %q", r.Status, r.Body)
		}
		busy.ExpectEOF(wait)
		tg.Wait(t)
		if s := tg.Stderr(); strings.Contains(s, "panic") || strings.Contains(s, "accept:") {
			t.Fatalf("server logged:\n%s", s)
		}
	})

	t.Run("IdleTimeout", func(t *testing.T) {
		tg := Start(t, append(args, "--idle-timeout", "200ms")...)
		c := tg.Dial(t)
		c.Get("/")
		c.Read(wait)
		c.ExpectEOF(wait)
		tg.Stop(t)
	})

	t.Run("ShutdownGraceEnds", func(t *testing.T) {
		c := tg.Dial(t)
		c.Get("/delay?ms=10000")
		c.Get("/") // answered only after the delayed one, so never
		tg.Signal(t)
		// Cut off: a close, or a reset if the second request was unread.
		c.ExpectClosed(wait)
		tg.Wait(t)
	})
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
