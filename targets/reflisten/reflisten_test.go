package reflisten

import (
	"net"
	"testing"
)

// recorded is a Conn whose input arrives in the given pieces.
func recorded(pieces ...string) *Conn {
	c := &Conn{}
	for _, p := range pieces {
		c.record([]byte(p))
	}
	return c
}

func TestHeadFollowsRequestsAndSkipsBodies(t *testing.T) {
	a := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	b := "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
	c := "GET /c HTTP/1.1\nHost: x\n\n"
	// Split across reads, body split too, empty lines before a request.
	conn := recorded(a+b[:10], b[10:]+"01234", "56789\r\n"+c)
	for i, want := range []struct {
		head string
		body int64
	}{{a, 0}, {b, 10}, {c, 0}} {
		if got := string(conn.Head(want.body)); got != want.head {
			t.Fatalf("head %d: %q, want %q", i, got, want.head)
		}
	}
	if h := conn.Head(0); h != nil {
		t.Errorf("no more heads, got %q", h)
	}
}

func TestHeadSkipsBodyNotYetRead(t *testing.T) {
	b := "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n"
	next := "GET /n HTTP/1.1\r\nHost: x\r\n\r\n"
	conn := recorded(b, "ab")
	if got := string(conn.Head(6)); got != b {
		t.Fatalf("%q", got)
	}
	conn.record([]byte("cdef" + next))
	if got := string(conn.Head(0)); got != next {
		t.Fatalf("after the body: %q, want %q", got, next)
	}
}

func TestHeadLost(t *testing.T) {
	conn := recorded("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	conn.Lose()
	if h := conn.Head(0); h != nil {
		t.Errorf("lost record gave %q", h)
	}
	big := &Conn{}
	big.record(make([]byte, maxRecord+1))
	if h := big.Head(0); h != nil || !big.lost {
		t.Errorf("an over-long record is not dropped")
	}
}

// Listener serves where the libraries take a net.Listener.
var _ net.Listener = (*Listener)(nil)
