package httpcore

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func testSite(t testing.TB) *Site {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"index.html":     "<h1>hi</h1>\n",
		"notfound.html":  "<h1>nope</h1>\n",
		"style.css":      "h1{}\n",
		"sub/index.html": "sub\n",
		"big.txt":        strings.Repeat("0123456789abcdef", 8<<10),
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(outside, []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "leak.txt")); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSite(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// exchange feeds input to a fresh session, in chunks of size n, and
// collects everything it answers until it wants input with none left, or
// closes.
func exchange(t testing.TB, s *Site, input string, n int) (out string, closed bool) {
	t.Helper()
	c := s.NewSession()
	now := time.Unix(1700000000, 0)
	var b strings.Builder
	in := []byte(input)
	for {
		st := c.Step(now)
		b.Write(c.Output())
		c.Wrote(len(c.Output()))
		switch st {
		case Close:
			return b.String(), true
		case Wait:
			now = c.WakeAt()
			continue
		case Flush:
			continue
		}
		if len(in) == 0 {
			c.EOF()
			st = c.Step(now)
			b.Write(c.Output())
			c.Wrote(len(c.Output()))
			return b.String(), st == Close
		}
		k := min(n, len(in))
		buf := c.Buffer()
		k = copy(buf, in[:k])
		c.Filled(k)
		in = in[k:]
	}
}

// statusLines finds the status lines of the responses in out: every
// response's status line is followed by its Date header.
var statusLine = regexp.MustCompile(`HTTP/1\.1 \d{3} [^\r\n]*\r\nDate: `)

func statusLines(out string) []string {
	var s []string
	for _, m := range statusLine.FindAllString(out, -1) {
		s = append(s, strings.TrimSuffix(m, "\r\nDate: "))
	}
	return s
}

func TestResponses(t *testing.T) {
	s := testSite(t)
	cases := []struct {
		name, req string
		want      []string // status lines in order
		contains  string
		closes    bool
	}{
		{"index", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 200 OK"}, "<h1>hi</h1>", false},
		{"file", "GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 200 OK"}, "Content-Type: text/css; charset=utf-8", false},
		{"dir index", "GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 200 OK"}, "sub\n", false},
		{"missing", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 404 Not Found"}, "<h1>nope</h1>", false},
		{"head", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 200 OK"}, "Content-Length: 12\r\n", false},
		{"post", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", []string{"HTTP/1.1 405 Method Not Allowed"}, "Allow: GET, HEAD", false},
		{"pipelined", "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /style.css HTTP/1.1\r\nHost: x\r\n\r\n",
			[]string{"HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found", "HTTP/1.1 200 OK"}, "", false},
		{"close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 200 OK"}, "Connection: close", true},
		{"http10", "GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n", []string{"HTTP/1.1 200 OK"}, "Connection: close", true},
		{"http10 keepalive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n", []string{"HTTP/1.1 200 OK", "HTTP/1.1 200 OK"}, "Connection: keep-alive", true},
		{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", []string{"HTTP/1.1 200 OK"}, "", false},
		{"leading CRLF", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 200 OK"}, "", false},
		{"body discarded", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /nope HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found"}, "", false},
		{"echo", "GET /echo HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n", []string{"HTTP/1.1 200 OK"}, "\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n", false},
		{"delay", "GET /delay?ms=20 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 200 OK", "HTTP/1.1 200 OK"}, "delayed 20 ms\n", false},
		{"delay bad", "GET /delay?ms=10001 HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 400 Bad Request"}, "", false},
		{"cpu", "GET /cpu?n=3 HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 200 OK"}, "cpu n=3 result=", false},
		{"cpu over cap", "GET /cpu?n=100001 HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 400 Bad Request"}, "", false},
		{"garbage", "HELLO\r\n\r\n", []string{"HTTP/1.1 400 Bad Request"}, "Connection: close", true},
		{"bad header", "GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", []string{"HTTP/1.1 400 Bad Request"}, "", true},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", []string{"HTTP/1.1 400 Bad Request"}, "", true},
		{"folding", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", []string{"HTTP/1.1 400 Bad Request"}, "", true},
		{"no host", "GET / HTTP/1.1\r\n\r\n", []string{"HTTP/1.1 400 Bad Request"}, "", true},
		{"version", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 505 HTTP Version Not Supported"}, "", true},
		{"bad version", "GET / HTTP/1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 400 Bad Request"}, "", true},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", []string{"HTTP/1.1 411 Length Required"}, "", true},
		{"too large body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n", []string{"HTTP/1.1 413 Content Too Large"}, "", true},
		{"big head", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n", []string{"HTTP/1.1 431 Request Header Fields Too Large"}, "", true},
		{"big head, never ending", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 20000), []string{"HTTP/1.1 431 Request Header Fields Too Large"}, "", true},
		{"absolute form", "GET http://x/style.css HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 200 OK"}, "h1{}", false},
	}
	for _, tc := range cases {
		for _, chunk := range []int{1, 7, 1 << 20} {
			out, closed := exchange(t, s, tc.req, chunk)
			if got := statusLines(out); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("%s (chunks of %d): statuses %q, want %q\n%s", tc.name, chunk, got, tc.want, out)
			}
			if !strings.Contains(out, tc.contains) {
				t.Errorf("%s: output lacks %q:\n%s", tc.name, tc.contains, out)
			}
			if tc.closes && !closed {
				t.Errorf("%s: connection not closed", tc.name)
			}
			for _, h := range []string{"\r\nDate: ", "\r\nServer: serverlab\r\n", "\r\nContent-Length: "} {
				if n := strings.Count(out, h); n != len(tc.want) {
					t.Errorf("%s: %d %q headers for %d responses", tc.name, n, h, len(tc.want))
				}
			}
		}
	}
}

func TestHeadHasNoBody(t *testing.T) {
	s := testSite(t)
	out, _ := exchange(t, s, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 100)
	if !strings.HasSuffix(out, "\r\n\r\n") {
		t.Fatalf("HEAD response carries a body:\n%q", out)
	}
}

func TestTraversal(t *testing.T) {
	s := testSite(t)
	for _, target := range []string{
		"/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
		"/%252e%252e/secret.txt", "//etc/passwd", "/sub//index.html", "/..%5csecret.txt", "/\\..\\secret.txt",
		"/index.html%00", "/leak.txt", "/./index.html", "/%zz", "/%2",
	} {
		out, _ := exchange(t, s, "GET "+target+" HTTP/1.1\r\nHost: x\r\n\r\n", 1<<20)
		st := statusLines(out)
		if len(st) != 1 || (st[0] != "HTTP/1.1 400 Bad Request" && st[0] != "HTTP/1.1 404 Not Found") {
			t.Errorf("%s: %q", target, st)
		}
		if strings.Contains(out, "secret") && !strings.Contains(out, "secret.txt") {
			t.Errorf("%s: leaked a file from outside the docroot", target)
		}
	}
}

func TestWaitKeepsOrder(t *testing.T) {
	s := testSite(t)
	c := s.NewSession()
	now := time.Unix(1700000000, 0)
	in := "GET /delay?ms=100 HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
	c.Filled(copy(c.Buffer(), in))
	if st := c.Step(now); st != Wait {
		t.Fatalf("Step = %v, want Wait", st)
	}
	if len(c.Output()) != 0 || c.Idle() {
		t.Fatalf("answered before the delay, or idle while waiting")
	}
	if got := c.WakeAt().Sub(now); got != 100*time.Millisecond {
		t.Fatalf("WakeAt in %v", got)
	}
	if st := c.Step(now.Add(50 * time.Millisecond)); st != Wait {
		t.Fatalf("early Step = %v", st)
	}
	if st := c.Step(now.Add(100 * time.Millisecond)); st != NeedInput {
		t.Fatalf("Step = %v, want NeedInput", st)
	}
	got := statusLines(string(c.Output()))
	if len(got) != 2 || got[1] != "HTTP/1.1 404 Not Found" {
		t.Fatalf("statuses %q", got)
	}
	c.Wrote(len(c.Output()))
	if !c.Idle() {
		t.Fatal("not idle after everything was answered")
	}
}

func TestFlushBoundsOutput(t *testing.T) {
	s := testSite(t)
	c := s.NewSession()
	req := "GET /big.txt HTTP/1.1\r\nHost: x\r\n\r\n"
	in := []byte(strings.Repeat(req, 40))
	const big = 128 << 10
	now := time.Now()
	flushed := false
	for {
		st := c.Step(now)
		if st == NeedInput && len(in) == 0 && len(c.Output()) == 0 {
			break
		}
		if len(c.Output()) > FlushAt+big+1024 {
			t.Fatalf("output grew to %d", len(c.Output()))
		}
		if st == Flush {
			flushed = true
		}
		c.Wrote(len(c.Output()))
		if st == NeedInput && len(in) > 0 {
			n := copy(c.Buffer(), in)
			c.Filled(n)
			in = in[n:]
		}
	}
	if !flushed {
		t.Fatal("never asked to flush")
	}
}

type counter struct{ req, resp int }

func (c *counter) Request()     { c.req++ }
func (c *counter) Response(int) { c.resp++ }

func TestObserver(t *testing.T) {
	dir := testSite(t) // for the files only
	_ = dir
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "notfound.html"), []byte("x"), 0o644)
	var n counter
	s, err := LoadSite(d, &n)
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, s, "GET / HTTP/1.1\r\nHost: x\r\n\r\nBAD\r\n\r\n", 1<<20)
	if n.req != 2 || n.resp != 2 {
		t.Fatalf("observed %d requests, %d responses; want 2, 2", n.req, n.resp)
	}
}

func TestLoadSiteErrors(t *testing.T) {
	if _, err := LoadSite(filepath.Join(t.TempDir(), "none"), nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing docroot: %v", err)
	}
	if _, err := LoadSite(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "notfound.html") {
		t.Fatalf("docroot without notfound.html: %v", err)
	}
}

func TestRouteCopiesEcho(t *testing.T) {
	s := testSite(t)
	head := []byte("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
	r := s.Route("GET", "/echo", head)
	head[0] = 'X'
	if !bytes.HasPrefix(r.Body, []byte("GET")) {
		t.Fatal("Route's /echo body aliases the caller's buffer")
	}
}

// FuzzSession checks that no input makes the parser panic, answer without
// the mandatory headers, or serve after deciding to close.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbodyGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /delay?ms=5&block=0 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /%2e%2e/%252e HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"\r\n\r\nGET http://h?x HTTP/1.1\nHost: y\n\n",
		"GET /cpu?n=1 HTTP/9.9\r\n\r\n",
	} {
		f.Add([]byte(seed), uint8(3))
	}
	s := testSite(f)
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		out, _ := exchange(t, s, string(in), int(chunk)+1)
		n := len(statusLines(out))
		if d := strings.Count(out, "\r\nServer: serverlab\r\n"); d < n {
			t.Fatalf("%d responses, %d Server headers", n, d)
		}
	})
}
