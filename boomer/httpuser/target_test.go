package httpuser

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The request target and name for a path on a base, as requests builds
// the URL (base+path) and Locust names it (path_url).
func TestRequestURIJoinsAsRequests(t *testing.T) {
	for _, c := range []struct{ base, path, want string }{
		{"http://h:1", "/", "/"},
		{"http://h:1", "/delay?ms=100", "/delay?ms=100"},
		{"http://h:1/", "/", "//"},
		{"http://h:1/nope", "/", "/nope/"},
		{"http://h:1/app/", "/x", "/app//x"},
		{"http://h:1?a=1", "/", "/?a=1/"},
		{"http://h:1/p?a=1", "/x", "/p?a=1/x"},
		{"http://h:1/#frag", "/", "/"},
		{"http://h:1/p?", "", "/p"},
		{"http://h:1", "/a b", "/a%20b"},
		{"http://h:1", "/%41", "/%41"},
		{"http://h:1", "", "/"},
		{"http://h:1?", "", "/"},
		{"http://h:1?b=2", "", "/?b=2"},
	} {
		tg, err := parseTarget(c.base)
		if err != nil {
			t.Fatalf("%s: %v", c.base, err)
		}
		if got := tg.requestURI(c.path); got != c.want {
			t.Errorf("%s + %s: %q, want %q", c.base, c.path, got, c.want)
		}
	}
	for _, bad := range []string{"ftp://h", "http://", "h:80", "http//h"} {
		if _, err := parseTarget(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// pathServer records the request targets it gets and answers by path.
type pathServer struct {
	mu   sync.Mutex
	seen []string
}

func (p *pathServer) handler(routes map[string]func(w http.ResponseWriter)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, r.RequestURI)
		p.mu.Unlock()
		if f, ok := routes[r.URL.Path]; ok {
			f(w)
			return
		}
		http.NotFound(w, r)
	})
}

func (p *pathServer) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

func redirect(to string, code int) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Location", to)
		w.WriteHeader(code)
	}
}

func ok(body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.Write([]byte(body)) }
}

// Redirects are followed and recorded once, under the first URL, with the
// last response's length; one that leaves the origin goes there; a loop
// fails as requests fails it.
func TestRedirectsFollowedAsRequests(t *testing.T) {
	var other pathServer
	far := httptest.NewServer(other.handler(map[string]func(http.ResponseWriter){"/there": ok("far away")}))
	defer far.Close()
	var here pathServer
	near := httptest.NewServer(here.handler(map[string]func(http.ResponseWriter){
		"/old":   redirect("/new", 301),
		"/new":   ok("0123456789"),
		"/rel/a": redirect("b", 302),
		"/rel/b": redirect("/gone", 307),
		"/away":  redirect(far.URL+"/there", 308),
		"/loop":  redirect("/loop", 302),
		"/see":   redirect("/new", 303),
	}))
	defer near.Close()

	c, err := New(context.Background(), near.URL, Options{ConnectTimeout: time.Second, ResponseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		path string
		want record
	}{
		{"/old", record{method: "GET", name: "/old", ok: true, length: 10}},
		{"/see", record{method: "GET", name: "/see", ok: true, length: 10}},
		{"/rel/a", record{method: "GET", name: "/rel/a", err: "HTTPError('404 Client Error: Not Found for url: /rel/a')"}},
		{"/away", record{method: "GET", name: "/away", ok: true, length: 8}},
		{"/loop", record{method: "GET", name: "/loop", err: "TooManyRedirects('Exceeded 30 redirects.')"}},
		{far.URL + "/there", record{method: "GET", name: "/there", ok: true, length: 8}},
	} {
		var r recorder
		c.GET(&r, tc.path, "")
		if len(r.got) != 1 || r.got[0] != tc.want {
			t.Errorf("GET %s recorded %+v, want %+v", tc.path, r.got, tc.want)
		}
	}
	loops := 0
	for _, p := range here.requests() {
		if p == "/loop" {
			loops++
		}
	}
	if loops != maxRedirects+1 {
		t.Errorf("the loop was requested %d times, want %d (requests' count)", loops, maxRedirects+1)
	}
	if got := strings.Join(other.requests(), " "); got != "/there /there" {
		t.Errorf("the other origin got %q", got)
	}
}

// An https host is spoken to over TLS, its certificate checked against
// REQUESTS_CA_BUNDLE's roots; an untrusted one fails as SSLError.
func TestHTTPSHost(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.RequestURI))
	}))
	defer srv.Close()
	opts := Options{ConnectTimeout: 2 * time.Second, ResponseTimeout: 2 * time.Second}

	untrusted, err := New(context.Background(), srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer untrusted.Close()
	var r recorder
	untrusted.GET(&r, "/", "")
	if got := r.last(t); got.ok || !strings.HasPrefix(got.err, "SSLError('tls: failed to verify certificate") {
		t.Errorf("an untrusted certificate: %+v", got)
	}

	// The system roots are read once per process: the trusted case runs
	// in a child test binary with REQUESTS_CA_BUNDLE set.
	if os.Getenv("HTTPUSER_TLS_CHILD") == "" {
		bundle := filepath.Join(t.TempDir(), "ca.pem")
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(bundle, pemBytes, 0o644); err != nil {
			t.Fatal(err)
		}
		runTLSChild(t, bundle, srv.URL)
		return
	}
}

// TestHTTPSTrustedChild runs only as the child of TestHTTPSHost.
func TestHTTPSTrustedChild(t *testing.T) {
	url := os.Getenv("HTTPUSER_TLS_CHILD")
	if url == "" {
		t.Skip("run by TestHTTPSHost with REQUESTS_CA_BUNDLE set")
	}
	c, err := New(context.Background(), url+"/base", Options{ConnectTimeout: 2 * time.Second, ResponseTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		var r recorder
		c.GET(&r, "/x", "")
		if got := r.last(t); !got.ok || got.name != "/base/x" || got.length != int64(len("/base/x")) {
			t.Fatalf("GET over TLS: %+v", got)
		}
	}
}

func runTLSChild(t *testing.T, bundle, url string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHTTPSTrustedChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "REQUESTS_CA_BUNDLE="+bundle, "HTTPUSER_TLS_CHILD="+url)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestHTTPSTrustedChild") {
		t.Errorf("trusted TLS in a child with REQUESTS_CA_BUNDLE: %v\n%s", err, out)
	}
}

// A request on a plain base costs no allocation to name and route.
func TestRouteAllocatesNothing(t *testing.T) {
	c, err := New(context.Background(), "http://127.0.0.1:1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, path := range []string{"/", "/delay?ms=100"} {
		if n := testing.AllocsPerRun(100, func() { c.route(path) }); n != 0 {
			t.Errorf("route(%q): %v allocations", path, n)
		}
	}
}

// A request with a body follows redirects as requests does: 301, 302 and
// 303 drop the body and its headers (and turn a POST into a GET), 307 and
// 308 send it again; the status expected is judged on the last response.
func TestRedirectedRequestsRebuiltAsRequests(t *testing.T) {
	type seen struct{ method, path, body, ctype string }
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 64)
		n, _ := r.Body.Read(b)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.Path, string(b[:n]), r.Header.Get("Content-Type")})
		mu.Unlock()
		switch r.URL.Path {
		case "/301", "/302", "/303", "/307", "/308":
			code := map[string]int{"/301": 301, "/302": 302, "/303": 303, "/307": 307, "/308": 308}[r.URL.Path]
			http.Redirect(w, r, "/sink", code)
		case "/sink":
			w.WriteHeader(201)
		}
	}))
	defer srv.Close()
	c, err := New(context.Background(), srv.URL, Options{ConnectTimeout: time.Second, ResponseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		path, method string
		want         seen
	}{
		{"/301", "POST", seen{"GET", "/sink", "", ""}},
		{"/301", "PUT", seen{"PUT", "/sink", "", ""}},
		{"/302", "POST", seen{"GET", "/sink", "", ""}},
		{"/303", "PUT", seen{"GET", "/sink", "", ""}},
		{"/307", "POST", seen{"POST", "/sink", `{"a":1}`, "application/json"}},
		{"/308", "PUT", seen{"PUT", "/sink", `{"a":1}`, "application/json"}},
	} {
		mu.Lock()
		got = nil
		mu.Unlock()
		var r recorder
		err := c.Do(&r, &Request{Method: tc.method, Path: tc.path, Body: []byte(`{"a":1}`),
			Header: [][2]string{{"Content-Type", "application/json"}}, Expect: []int{201}})
		mu.Lock()
		last := got[len(got)-1]
		mu.Unlock()
		if err != nil || last != tc.want || len(r.got) != 1 || r.got[0] != (record{method: tc.method, name: tc.path, ok: true}) {
			t.Errorf("%s %s: err %v, the redirect's target saw %+v (want %+v), recorded %+v", tc.method, tc.path, err, last, tc.want, r.got)
		}
	}
}
