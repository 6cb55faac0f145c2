package httpcore

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Answer refuses and routes exactly as a Session does: for each head, the
// reply's status and body match what a Session writes for it.
func TestAnswerAgreesWithSession(t *testing.T) {
	s := testSite(t)
	for head, want := range map[string]int{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n":                200,
		"GET / HTTP/1.0\r\n\r\n":                           200,
		"GET / HTTP/1.1\r\n\r\n":                           400,
		"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n":     400,
		"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n": 400,
		"GET / HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n":    400,
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n":     400,
		"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n":   400,
		"GET /\r\n\r\n":                                                              400,
		"GET  / HTTP/1.1\r\nHost: x\r\n\r\n":                                         400,
		"G(T / HTTP/1.1\r\nHost: x\r\n\r\n":                                          400,
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n":                                      400,
		"PRI * HTTP/2.0\r\n\r\n":                                                     505,
		"GET / HTTP/2.0\r\nHost: x\r\n\r\n":                                          505,
		"GET / HTTP/1.2\r\nHost: x\r\n\r\n":                                          505,
		"GET / HTTP/1.x\r\nHost: x\r\n\r\n":                                          400,
		"GET / HTTP/1.1\r\nHost: x\r\nX-Tab: a\tb\r\n\r\n":                           200,
		"GET / HTTP/1.1\r\nhOsT: x\r\nX-Ok!#$: v\r\n\r\n":                            200,
		"GET http://x/style.css HTTP/1.1\r\nHost: x\r\n\r\n":                         200,
		"GET / HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n":                          400,
		"GET / HTTP/1.1\r\nHost: x\r\nX: v\x7f\r\n\r\n":                              400,
		"GET / HTTP/1.1\r\nHost: x\r\nX: \xff utf8 ok\r\n\r\n":                       200,
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n":                    405,
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n":           411,
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n":          411,
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n":              413,
		"GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 9<<10) + "\r\n\r\n": 431,
		"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n":                                      404,
		"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n":                                      200,
		"GET /a/../ HTTP/1.1\r\nHost: x\r\n\r\n":                                     400,
	} {
		r, refused := s.Answer([]byte(head))
		if r.Status != want {
			t.Errorf("%.60q: %d, want %d", head, r.Status, want)
		}
		// A bad path is refused by the router, which keeps the connection.
		routed := want < 400 || want == 404 || want == 405 || strings.Contains(head, "/../")
		if refused == routed {
			t.Errorf("%.60q: refused %v", head, refused)
		}
		sess := s.NewSession()
		for rest := head; len(rest) > 0; {
			n := copy(sess.Buffer(), rest)
			sess.Filled(n)
			rest = rest[n:]
			if sess.Step(time.Now()) == Close {
				break
			}
		}
		out := string(sess.Output())
		if !strings.HasSuffix(out, "\r\n\r\n"+string(r.Body)) || !strings.HasPrefix(out, "HTTP/1.1 "+itoa(r.Status)+" ") {
			t.Errorf("%.60q: the session wrote %.200q, Answer says %d %.80q", head, out, r.Status, r.Body)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// An /echo reply does not alias the head given to Answer.
func TestAnswerEchoIsACopy(t *testing.T) {
	head := []byte("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
	r, _ := testSite(t).Answer(head)
	head[0] = 'X'
	if string(r.Body[:3]) != "GET" {
		t.Errorf("the echo changed with the head: %q", r.Body)
	}
}

func TestErrorResponse(t *testing.T) {
	b := string(ErrorResponse(503, "out of threads", time.Unix(0, 0)))
	for _, want := range []string{"HTTP/1.1 503 Service Unavailable\r\n", "\r\nConnection: close\r\n",
		"\r\nContent-Length: 40\r\n", "\r\n\r\n503 Service Unavailable: out of threads\n"} {
		if !strings.Contains(b, want) {
			t.Errorf("%q lacks %q", b, want)
		}
	}
}
