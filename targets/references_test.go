package targets_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/repo"
)

// timeoutStatus is what a reference answers a request head that did not
// arrive within --read-timeout, where it answers anything: the core and
// close the connection without a word.
var timeoutStatus = map[string]int{"nethttp": 400, "fasthttp": 408}

// rawExchange sends raw on a new connection and returns every byte the
// server sends until it closes the connection (or sends nothing for
// quiet), with the Date header's value blanked out.
func rawExchange(t *testing.T, addr, raw string, quiet time.Duration) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioWait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioWait))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Fatalf("%q: %v", raw, err)
				}
			}
			break
		}
	}
	return dateValue.ReplaceAllString(out.String(), "Date: D")
}

var dateValue = regexp.MustCompile(`Date: [^\r]*`)

// sameHeaders compares two responses with their header lines in any
// order: the order is one of the listed differences.
func sameHeaders(a, b string) bool {
	split := func(s string) (string, []string, string) {
		head, body, _ := strings.Cut(s, "\r\n\r\n")
		lines := strings.Split(head, "\r\n")
		hdrs := slices.Clone(lines[1:])
		slices.Sort(hdrs)
		return lines[0], hdrs, body
	}
	la, ha, ba := split(a)
	lb, hb, bb := split(b)
	return la == lb && slices.Equal(ha, hb) && ba == bb
}

// TestReferencesAgree: on the edge cases where the libraries' options
// allow it, the references send the core's status line, headers and body
// (in their own header order).
func TestReferencesAgree(t *testing.T) {
	bin := targetBin(t)
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	www := filepath.Join(root, "targets", "www")
	core := start(t, bin, "epoll", "--docroot", www)
	refs := map[string]*target{
		"nethttp":  start(t, bin, "nethttp", "--docroot", www),
		"fasthttp": start(t, bin, "fasthttp", "--docroot", www),
	}
	cases := map[string]string{
		"index":    get("/"),
		"options*": "OPTIONS * HTTP/1.1\r\n" + host + "\r\n",
		// The bytes after a refused request are never read as another.
		"te-identity": "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: identity\r\n\r\n" + get("/style.css"),
		"chunked":     "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"body-413":    "POST / HTTP/1.1\r\n" + host + "Content-Length: 2000000\r\n\r\n",
		"http-1.2":    "GET / HTTP/1.2\r\n" + host + "\r\n",
		"h2-preface":  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"head-431":    "GET / HTTP/1.1\r\n" + host + "X: " + strings.Repeat("a", 9<<10) + "\r\n\r\n",
		"bad-name":    "GET / HTTP/1.1\r\n" + host + "Bad Name: x\r\n\r\n",
		"http-2.0":    "GET / HTTP/2.0\r\n" + host + "\r\n",
		"no-host":     "GET / HTTP/1.1\r\n\r\n",
		"http-1.0":    "GET /nope HTTP/1.0\r\n\r\n",
		"bad-length":  "GET / HTTP/1.1\r\n" + host + "Content-Length: x\r\n\r\n",
	}
	for name, raw := range cases {
		want := rawExchange(t, core.addr, raw, time.Second)
		for model, tg := range refs {
			got := rawExchange(t, tg.addr, raw, time.Second)
			if d, listed := referenceDiffers[model][name]; listed {
				if !strings.Contains(got, d) || sameHeaders(got, want) {
					t.Errorf("%s %s: the listed difference (%q) is gone:\n%q\nthe core:\n%q", model, name, d, got, want)
				}
				continue
			}
			if !sameHeaders(got, want) {
				t.Errorf("%s %s:\n%q\nthe core sends:\n%q", model, name, got, want)
			}
		}
	}
}

// referenceDiffers is the README's list of where a reference still
// answers differently from the core, by case, with a piece of what it
// sends instead: each is what the library does before (or after) the
// handler, with no option to change it.
var referenceDiffers = map[string]map[string]string{
	"nethttp": {
		"te-identity": "HTTP/1.1 501 Not Implemented\r\n",
		"body-413":    "HTTP/1.1 413 Request Entity Too Large\r\n",
		"bad-name":    "HTTP/1.1 400 Bad Request: invalid header name\r\n",
		"http-2.0":    "HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version\r\n",
		"no-host":     "HTTP/1.1 400 Bad Request: missing required Host header\r\n",
		"http-1.0":    "HTTP/1.0 404 Not Found\r\n",
		"bad-length":  "charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request",
	},
	"fasthttp": {
		"h2-preface": "400 Bad Request: malformed request\n",
		"no-host":    "400 Bad Request: malformed request\n",
		"bad-length": "400 Bad Request: malformed request\n",
	},
}

// TestReferenceHeaderOrder: the header order each reference writes, the
// one difference every response shows.
func TestReferenceHeaderOrder(t *testing.T) {
	bin := targetBin(t)
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	www := filepath.Join(root, "targets", "www")
	for model, order := range map[string]string{
		"epoll":    "Date Server Content-Type Content-Length",
		"nethttp":  "Content-Length Content-Type Server Date",
		"fasthttp": "Server Date Content-Type Content-Length",
	} {
		tg := start(t, bin, model, "--docroot", www)
		head, _, _ := strings.Cut(rawExchange(t, tg.addr, "GET / HTTP/1.1\r\n"+host+"Connection: close\r\n\r\n", time.Second), "\r\n\r\n")
		var names []string
		for _, l := range strings.Split(head, "\r\n")[1:] {
			if n, _, _ := strings.Cut(l, ":"); n != "Connection" {
				names = append(names, n)
			}
		}
		if got := strings.Join(names, " "); got != order {
			t.Errorf("%s: header order %q, want %q", model, got, order)
		}
	}
}

// TestReferenceTimeoutAnswer: a head dripping in one byte at a time that
// does not arrive in time: fasthttp answers 408 (the core's reply, from
// its error handler), net/http its own 400, before they close; the core
// says nothing.
func TestReferenceTimeoutAnswer(t *testing.T) {
	bin := targetBin(t)
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	www := filepath.Join(root, "targets", "www")
	for _, model := range []string{"epoll", "fasthttp", "nethttp"} {
		tg := start(t, bin, model, "--docroot", www, "--read-timeout", "1s")
		c, err := net.DialTimeout("tcp", tg.addr, ioWait)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\n")
		go func() {
			for _, b := range host + "X-Drip: aaaaaaaaaaaaaaaaaaaa" {
				time.Sleep(200 * time.Millisecond)
				if _, err := io.WriteString(c, string(b)); err != nil {
					return
				}
			}
		}()
		c.SetReadDeadline(time.Now().Add(ioWait))
		b, _ := io.ReadAll(c)
		got := dateValue.ReplaceAllString(string(b), "Date: D")
		if st := timeoutStatus[model]; st != 0 {
			if !strings.HasPrefix(got, "HTTP/1.1 "+strconv.Itoa(st)+" ") {
				t.Errorf("%s: %q after the read timeout, want its %d", model, got, st)
			}
		} else if got != "" {
			t.Errorf("%s: %q after the read timeout, want nothing", model, got)
		}
	}
}
