// Package targets_test checks that every concurrency model serves the same
// site with the same HTTP semantics, over raw TCP, by running bin/target
// as a real process.
package targets_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/repo"
	"serverlab/internal/testbin"
	"serverlab/targets/process/proctest"
)

// contractModels is the --list order the project promises.
var contractModels = []string{"single", "process", "prefork", "thread", "threadpool",
	"goroutine", "select", "poll", "busypoll", "epoll", "reactor", "fasthttp", "nethttp"}

// Models whose one thread of control multiplexes connections: a delayed
// response must not hold up another client.
var eventLoops = map[string]bool{"select": true, "poll": true, "busypoll": true, "epoll": true, "reactor": true}

// Models that keep every accepted connection open in one process, and so
// run out of descriptors under --max-fds (the others accept only as many
// connections as they have threads or processes, or hand them to children).
var holdsConns = map[string]bool{"thread": true, "goroutine": true, "select": true, "poll": true,
	"busypoll": true, "epoll": true, "reactor": true, "fasthttp": true, "nethttp": true}

// The reference models parse requests with their library, which answers
// some malformed requests itself: those answers need not carry the core's
// Server and Date headers or its error bodies.
var reference = map[string]bool{"fasthttp": true, "nethttp": true}

func targetBin(t *testing.T) string {
	t.Helper()
	return testbin.Build(t, "serverlab/targets/cmd/target")
}

func listModels(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command(bin, "--list").Output()
	if err != nil {
		t.Fatalf("target --list: %v", err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		name, desc, ok := strings.Cut(line, "\t")
		if !ok || name == "" || desc == "" {
			t.Fatalf("target --list: malformed line %q", line)
		}
		names = append(names, name)
	}
	return names
}

func TestList(t *testing.T) {
	names := listModels(t, targetBin(t))
	if !slices.Equal(names, contractModels) {
		t.Errorf("target --list names %v, want %v", names, contractModels)
	}
}

func TestBadCommandLine(t *testing.T) {
	bin := targetBin(t)
	for _, args := range [][]string{
		{"--model", "nosuchmodel"},
		{"--bogus-flag"},
		{},
		{"--model", "epoll", "--idle-timeout", "-1s"},
	} {
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("target %v: %v, want exit status 2", args, err)
		}
		msg := strings.TrimSuffix(stderr.String(), "\n")
		if msg == "" || strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine ") {
			t.Errorf("target %v: stderr %q, want one line", args, stderr.String())
		}
	}
}

// site is the docroot the suite compares responses with.
type site struct {
	dir   string
	files map[string][]byte // by name
}

func loadSite(t *testing.T, dir string) *site {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &site{dir: dir, files: map[string][]byte{}}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s.files[e.Name()] = b
	}
	for _, need := range []string{"index.html", "notfound.html"} {
		if s.files[need] == nil {
			t.Fatalf("%s has no %s", dir, need)
		}
	}
	return s
}

// contentType is the Content-Type the site promises per extension.
func contentType(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".html", ".htm":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".md":
		return "text/markdown; charset=utf-8"
	case ".txt":
		return "text/plain; charset=utf-8"
	case ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	}
	return "application/octet-stream"
}

// outsideSecret is the content of a file next to the temporary docroot,
// which no request may ever get.
const outsideSecret = "serverlab-outside-secret-7f3a"

// tempSite copies the site into a temporary docroot, with a secret file
// beside it and symlinks inside it that point at the secret.
func tempSite(t *testing.T, www *site) *site {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "www")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range www.files {
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(outsideSecret), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, to := range map[string]string{"link.txt": "../outside/secret.txt", "linkdir": "../outside"} {
		if err := os.Symlink(to, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return loadSite(t, root)
}

// TestConformance runs every model of --list through the same checks. Each
// model gets three processes: one with the defaults for the HTTP checks,
// one with a temporary docroot and one-second timeouts for traversal,
// timeouts and graceful shutdown, and one with --max-fds 32 for running out
// of descriptors and the admin endpoint.
func TestConformance(t *testing.T) {
	bin := targetBin(t)
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	www := loadSite(t, filepath.Join(root, "targets", "www"))
	for _, model := range listModels(t, bin) {
		t.Run(model, func(t *testing.T) {
			t.Parallel() // bounded by -parallel, which is GOMAXPROCS by default
			t.Run("http", func(t *testing.T) {
				httpChecks(t, start(t, bin, model, "--docroot", www.dir), www)
			})
			t.Run("timeouts", func(t *testing.T) {
				tmp := tempSite(t, www)
				tg := start(t, bin, model, "--docroot", tmp.dir, "--read-timeout", "1s",
					"--idle-timeout", "1s", "--admin-addr", "127.0.0.1:0")
				timeoutChecks(t, tg, tmp)
			})
			t.Run("limits", func(t *testing.T) {
				tg := start(t, bin, model, "--docroot", www.dir, "--max-fds", "32",
					"--admin-addr", "127.0.0.1:0")
				limitChecks(t, tg)
			})
		})
	}
}

const host = "Host: test\r\n"

func get(path string) string { return "GET " + path + " HTTP/1.1\r\n" + host + "\r\n" }

// checkCommon checks the headers every response carries.
func checkCommon(t testing.TB, r *response) {
	t.Helper()
	if got := r.get("Server"); got != "serverlab" {
		t.Errorf("status %d: Server %q, want serverlab", r.status, got)
	}
	if d := r.get("Date"); d == "" {
		t.Errorf("status %d: no Date", r.status)
	} else if _, err := http.ParseTime(d); err != nil {
		t.Errorf("status %d: Date %q: %v", r.status, d, err)
	}
	if r.get("Content-Type") == "" {
		t.Errorf("status %d: no Content-Type", r.status)
	}
	if r.get("Content-Length") == "" {
		t.Errorf("status %d: no Content-Length", r.status)
	}
}

// checkFile checks a 200 response carrying a file of the site.
func checkFile(t testing.TB, r *response, s *site, name string) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("%s: %v, want 200", name, r)
	}
	checkCommon(t, r)
	if got, want := r.get("Content-Type"), contentType(name); got != want {
		t.Errorf("%s: Content-Type %q, want %q", name, got, want)
	}
	if !bytes.Equal(r.body, s.files[name]) {
		t.Errorf("%s: body of %d bytes differs from the file's %d", name, len(r.body), len(s.files[name]))
	}
}

func httpChecks(t *testing.T, tg *target, www *site) {
	model := tg.model
	t.Run("files", func(t *testing.T) {
		names := make([]string, 0, len(www.files))
		for name := range www.files {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			r := tg.fetch(t, get("/"+name))
			checkFile(t, r, www, name)
		}
		r := tg.fetch(t, get("/"))
		checkFile(t, r, www, "index.html")
		r = tg.fetch(t, "GET http://test/style.css HTTP/1.1\r\n"+host+"\r\n")
		checkFile(t, r, www, "style.css")
	})
	t.Run("not-found", func(t *testing.T) {
		r := tg.fetch(t, get("/no-such-page.html"))
		if r.status != 404 || !bytes.Equal(r.body, www.files["notfound.html"]) {
			t.Fatalf("%v, want 404 with notfound.html", r)
		}
		checkCommon(t, r)
		if got := r.get("Content-Type"); got != "text/html; charset=utf-8" {
			t.Errorf("Content-Type %q", got)
		}
	})
	t.Run("head", func(t *testing.T) {
		r, c, br := tg.roundTrip(t, "HEAD /index.html HTTP/1.1\r\n"+host+"\r\n")
		if r.status != 200 {
			t.Fatalf("%v", r)
		}
		checkCommon(t, r)
		if got, want := r.get("Content-Length"), fmt.Sprint(len(www.files["index.html"])); got != want {
			t.Errorf("Content-Length %s, want %s", got, want)
		}
		// The next bytes must be the next response, not a body.
		io.WriteString(c, get("/style.css"))
		r, err := readResponse(br, false)
		if err != nil {
			t.Fatalf("after HEAD: %v", err)
		}
		checkFile(t, r, www, "style.css")
	})
	t.Run("keep-alive", func(t *testing.T) {
		c := tg.dial(t)
		br := bufio.NewReader(c)
		for i, name := range []string{"index.html", "style.css", "app.js", "photo.jpg", "index.html"} {
			io.WriteString(c, get("/"+name))
			r, err := readResponse(br, false)
			if err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
			checkFile(t, r, www, name)
			if r.get("Connection") == "close" {
				t.Fatalf("request %d: Connection: close", i+1)
			}
		}
	})
	t.Run("pipelining", func(t *testing.T) {
		names := []string{"style.css", "index.html", "app.js"}
		var raw strings.Builder
		for _, name := range names {
			raw.WriteString(get("/" + name))
		}
		c := tg.dial(t)
		io.WriteString(c, raw.String())
		br := bufio.NewReader(c)
		for _, name := range names {
			r, err := readResponse(br, false)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			checkFile(t, r, www, name)
		}
	})
	t.Run("http10", func(t *testing.T) {
		r, c, br := tg.roundTrip(t, "GET /index.html HTTP/1.0\r\n\r\n")
		checkFile(t, r, www, "index.html")
		if strings.EqualFold(r.get("Connection"), "keep-alive") {
			t.Errorf("HTTP/1.0 without keep-alive got Connection: keep-alive")
		}
		expectClosed(t, c, br)
	})
	t.Run("http10-keep-alive", func(t *testing.T) {
		r, c, br := tg.roundTrip(t, "GET /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		checkFile(t, r, www, "index.html")
		if !strings.EqualFold(r.get("Connection"), "keep-alive") {
			t.Errorf("Connection %q, want keep-alive", r.get("Connection"))
		}
		io.WriteString(c, "GET /style.css HTTP/1.0\r\n\r\n")
		r, err := readResponse(br, false)
		if err != nil {
			t.Fatalf("second request: %v", err)
		}
		checkFile(t, r, www, "style.css")
		expectClosed(t, c, br)
	})
	t.Run("connection-close", func(t *testing.T) {
		r, c, br := tg.roundTrip(t, "GET /app.js HTTP/1.1\r\n"+host+"Connection: close\r\n\r\n")
		checkFile(t, r, www, "app.js")
		if !strings.EqualFold(r.get("Connection"), "close") {
			t.Errorf("Connection %q, want close", r.get("Connection"))
		}
		expectClosed(t, c, br)
	})
	t.Run("echo", func(t *testing.T) {
		head := "GET /echo?x=1 HTTP/1.1\r\n" + host + "X-Probe: conformance\r\nAccept: */*\r\n\r\n"
		r := tg.fetch(t, head)
		if r.status != 200 || string(r.body) != head {
			t.Fatalf("%v, want 200 echoing %q", r, head)
		}
		checkCommon(t, r)
		if ct := r.get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type %q", ct)
		}
	})
	t.Run("delay", func(t *testing.T) {
		begin := time.Now()
		r := tg.fetch(t, get("/delay?ms=50"))
		if r.status != 200 || string(r.body) != "delayed 50 ms\n" {
			t.Fatalf("%v", r)
		}
		checkCommon(t, r)
		if d := time.Since(begin); d < 50*time.Millisecond {
			t.Errorf("answered after %v, before the delay", d)
		}
		for _, bad := range []string{"/delay", "/delay?ms=-1", "/delay?ms=10001", "/delay?ms=x"} {
			r := tg.fetch(t, get(bad))
			if r.status != 400 {
				t.Errorf("%s: %v, want 400", bad, r)
			}
		}
	})
	if eventLoops[model] || reference[model] || model == "goroutine" || model == "thread" || model == "process" {
		t.Run("delay-serves-others", func(t *testing.T) {
			// The delayed request goes first; the other client's answer must
			// come back first all the same.
			type done struct {
				what string
				err  error
			}
			finished := make(chan done, 2)
			slow := tg.dial(t)
			io.WriteString(slow, get("/delay?ms=500"))
			go func() {
				r, err := readResponse(bufio.NewReader(slow), false)
				if err == nil && r.status != 200 {
					err = fmt.Errorf("%v", r)
				}
				finished <- done{"delay", err}
			}()
			go func() {
				c, err := net.DialTimeout("tcp", tg.addr, ioWait)
				if err != nil {
					finished <- done{"index", err}
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(ioWait))
				io.WriteString(c, get("/"))
				r, err := readResponse(bufio.NewReader(c), false)
				if err == nil && r.status != 200 {
					err = fmt.Errorf("%v", r)
				}
				finished <- done{"index", err}
			}()
			first, second := <-finished, <-finished
			for _, d := range []done{first, second} {
				if d.err != nil {
					t.Fatalf("%s: %v", d.what, d.err)
				}
			}
			if first.what != "index" {
				t.Errorf("GET / was answered after the 500 ms delay of another client")
			}
		})
	}
	t.Run("method-not-allowed", func(t *testing.T) {
		for _, m := range []string{"POST", "PUT", "DELETE"} {
			r := tg.fetch(t, m+" /index.html HTTP/1.1\r\n"+host+"Content-Length: 0\r\n\r\n")
			if r.status != 405 || r.get("Allow") != "GET, HEAD" {
				t.Errorf("%s: %v, want 405 with Allow: GET, HEAD", m, r)
			}
			checkCommon(t, r)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		for _, raw := range []string{
			"GET /\r\n\r\n",
			"GET / HTTP/1.1\r\n" + host + "No colon here\r\n\r\n",
			"GET / HTTP/1.1\r\n" + host + "Bad Name: x\r\n\r\n",
			"G(T / HTTP/1.1\r\n" + host + "\r\n",
			"GET / HTTP/1.1\r\n\r\n", // no Host
		} {
			r, c, br := tg.roundTrip(t, raw)
			if r.status != 400 {
				t.Errorf("%q: %v, want 400", raw, r)
				continue
			}
			if !reference[model] {
				checkCommon(t, r)
			}
			expectClosed(t, c, br)
		}
	})
	t.Run("head-too-large", func(t *testing.T) {
		raw := "GET / HTTP/1.1\r\n" + host + "X-Pad: " + strings.Repeat("a", 9<<10) + "\r\n\r\n"
		r, c, br := tg.roundTrip(t, raw)
		if r.status != 431 {
			t.Fatalf("%v, want 431", r)
		}
		checkCommon(t, r)
		expectClosed(t, c, br)
	})
	t.Run("body-too-large", func(t *testing.T) {
		r, c, br := tg.roundTrip(t, "POST / HTTP/1.1\r\n"+host+"Content-Length: 2000000\r\n\r\n")
		if r.status != 413 {
			t.Fatalf("%v, want 413", r)
		}
		checkCommon(t, r)
		expectClosed(t, c, br)
	})
	t.Run("body-skipped", func(t *testing.T) {
		// A body within the limit is read past: the next request is served.
		c := tg.dial(t)
		io.WriteString(c, "POST / HTTP/1.1\r\n"+host+"Content-Length: 5\r\n\r\nhello"+get("/style.css"))
		br := bufio.NewReader(c)
		r, err := readResponse(br, false)
		if err != nil || r.status != 405 {
			t.Fatalf("POST: %v %v, want 405", r, err)
		}
		r, err = readResponse(br, false)
		if err != nil {
			t.Fatalf("after the body: %v", err)
		}
		checkFile(t, r, www, "style.css")
	})
	t.Run("chunked", func(t *testing.T) {
		r, c, br := tg.roundTrip(t, "POST / HTTP/1.1\r\n"+host+"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
		if r.status != 411 {
			t.Fatalf("%v, want 411", r)
		}
		checkCommon(t, r)
		expectClosed(t, c, br)
	})
	t.Run("version", func(t *testing.T) {
		r, c, br := tg.roundTrip(t, "GET / HTTP/2.0\r\n"+host+"\r\n")
		if r.status != 505 {
			t.Fatalf("%v, want 505", r)
		}
		if !reference[model] {
			checkCommon(t, r)
		}
		expectClosed(t, c, br)
	})
	t.Run("concurrent-clients", func(t *testing.T) {
		const clients = 200
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.DialTimeout("tcp", tg.addr, ioWait)
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * ioWait))
				if _, err := io.WriteString(c, "GET /index.html HTTP/1.1\r\n"+host+"Connection: close\r\n\r\n"); err != nil {
					errs <- err
					return
				}
				r, err := readResponse(bufio.NewReader(c), false)
				if err == nil && (r.status != 200 || !bytes.Equal(r.body, www.files["index.html"])) {
					err = fmt.Errorf("%v", r)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		n := 0
		for err := range errs {
			if n++; n <= 3 {
				t.Errorf("client: %v", err)
			}
		}
		if n > 0 {
			t.Errorf("%d of %d clients not answered", n, clients)
		}
	})
}

func timeoutChecks(t *testing.T, tg *target, s *site) {
	t.Run("traversal", func(t *testing.T) {
		for _, p := range []string{
			"/../outside/secret.txt",
			"/%2e%2e/outside/secret.txt",
			"/%2E%2E%2Foutside%2Fsecret.txt",
			"/%252e%252e/outside/secret.txt",
			"/..%2foutside/secret.txt",
			"//outside/secret.txt",
			"/..\\outside\\secret.txt",
			"/%5c..%5coutside%5csecret.txt",
			"/index.html%00.txt",
			"/./../outside/secret.txt",
			"/link.txt",
			"/linkdir/secret.txt",
			"/../../../../../../etc/passwd",
		} {
			r := tg.fetch(t, get(p))
			if r.status != 400 && r.status != 404 {
				t.Errorf("%s: %v, want 400 or 404", p, r)
			}
			if bytes.Contains(r.body, []byte(outsideSecret)) || bytes.Contains(r.body, []byte("root:")) {
				t.Errorf("%s: served a file outside the docroot", p)
			}
		}
		// The temporary docroot itself serves.
		r := tg.fetch(t, get("/index.html"))
		checkFile(t, r, s, "index.html")
	})
	t.Run("slow-head", func(t *testing.T) {
		c := tg.dial(t)
		begin := time.Now()
		io.WriteString(c, "GET / HTTP/1.1\r\n"+host)
		// Half a head, then nothing: the read timeout closes it. A server may
		// say 408 first.
		br := bufio.NewReader(c)
		if b, err := br.Peek(1); err == nil && b[0] == 'H' {
			r, err := readResponse(br, false)
			if err != nil || r.status != 408 {
				t.Fatalf("%v %v, want 408 or nothing", r, err)
			}
		}
		expectClosed(t, c, br)
		if d := time.Since(begin); d < 900*time.Millisecond {
			t.Errorf("closed after %v, before the 1s read timeout", d)
		}
	})
	t.Run("idle", func(t *testing.T) {
		r, c, br := tg.roundTrip(t, get("/"))
		checkFile(t, r, s, "index.html")
		begin := time.Now()
		expectClosed(t, c, br)
		if d := time.Since(begin); d < 900*time.Millisecond {
			t.Errorf("idle connection closed after %v, before the 1s idle timeout", d)
		}
	})
	t.Run("graceful-shutdown", func(t *testing.T) {
		_, text := tg.adminGet(t, "/metrics")
		before, _ := metric(text, "serverlab_requests_total")
		c := tg.dial(t)
		io.WriteString(c, get("/delay?ms=300"))
		// Signal only once the server has the request.
		for end := time.Now().Add(ioWait); ; time.Sleep(10 * time.Millisecond) {
			_, text := tg.adminGet(t, "/metrics")
			if n, _ := metric(text, "serverlab_requests_total"); n > before {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("the /delay request is not counted after %v", ioWait)
			}
		}
		kids := proctest.Children(tg.pid())
		if err := tg.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		r, err := readResponse(bufio.NewReader(c), false)
		if err != nil {
			t.Fatalf("in-flight response lost at shutdown: %v", err)
		}
		if r.status != 200 || string(r.body) != "delayed 300 ms\n" {
			t.Fatalf("%v", r)
		}
		select {
		case <-tg.exited:
		case <-time.After(exitWait):
			t.Fatalf("still running %v after SIGTERM; stderr:\n%s", exitWait, tg.stderr)
		}
		if tg.err != nil {
			t.Fatalf("exit: %v; stderr:\n%s", tg.err, tg.stderr)
		}
		for _, k := range kids {
			if k.Alive() {
				t.Errorf("child %d still runs after the target exited", k.Pid)
			}
		}
	})
}

func limitChecks(t *testing.T, tg *target) {
	t.Run("admin", func(t *testing.T) {
		if code, body := tg.adminGet(t, "/healthz"); code != 200 || !healthLine.MatchString(body) || !strings.Contains(body, " max_fds=32 ") {
			t.Errorf("/healthz: %d %q", code, body)
		}
		const n = 3
		c := tg.dial(t)
		br := bufio.NewReader(c)
		for i := 0; i < n; i++ {
			io.WriteString(c, get("/"))
			if r, err := readResponse(br, false); err != nil || r.status != 200 {
				t.Fatalf("%v %v", r, err)
			}
		}
		code, text := tg.adminGet(t, "/metrics")
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		for _, name := range []string{
			"serverlab_connections_active", "serverlab_open_fds", "serverlab_os_threads",
			"serverlab_child_processes", "serverlab_resident_memory_bytes",
			"serverlab_cpu_seconds_total", "serverlab_connections_shed_total",
		} {
			if _, ok := metric(text, name); !ok {
				t.Errorf("/metrics has no %s", name)
			}
		}
		if v, ok := metric(text, "serverlab_max_fds"); v != 32 {
			t.Errorf("/metrics: serverlab_max_fds = %v (present %v), want 32", v, ok)
		}
		if v, ok := metric(text, "serverlab_metrics_read_errors_total"); !ok || v != 0 {
			t.Errorf("/metrics: serverlab_metrics_read_errors_total = %v (present %v), want 0", v, ok)
		}
		for name, least := range map[string]float64{
			"serverlab_connections_accepted_total": 1,
			"serverlab_requests_total":             n,
			"serverlab_responses_total":            n,
		} {
			var labels []string
			if name == "serverlab_responses_total" {
				labels = []string{`status="200"`}
			}
			if v, ok := metric(text, name, labels...); !ok || v < least {
				t.Errorf("/metrics: %s = %v (present %v), want at least %v", name, v, ok, least)
			}
		}
	})
	t.Run("emfile", func(t *testing.T) {
		const n = 60
		conns := make([]net.Conn, 0, n)
		for i := 0; i < n; i++ {
			c, err := net.DialTimeout("tcp", tg.addr, ioWait)
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			conns = append(conns, c)
		}
		// The first accept that fails is logged at once.
		sawEMFILE := holdsConns[tg.model] && tg.stderr.WaitFor("EMFILE", 10*time.Second)
		for _, c := range conns {
			c.Close()
		}
		if holdsConns[tg.model] && !sawEMFILE {
			t.Errorf("no EMFILE logged with %d connections and --max-fds 32; stderr:\n%s", n, tg.stderr)
		}
		// Served again once the descriptors are back.
		r := tg.fetch(t, get("/"))
		if r.status != 200 {
			t.Fatalf("after EMFILE: %v", r)
		}
		if holdsConns[tg.model] {
			_, text := tg.adminGet(t, "/metrics")
			if v, _ := metric(text, "serverlab_accept_errors_total", `errno="EMFILE"`); v < 1 {
				t.Errorf(`serverlab_accept_errors_total{errno="EMFILE"} = %v, want > 0`, v)
			}
		}
	})
}

// TestSecondTargetOnSameAddress: a target started on the address of one
// that runs fails with one line naming the address, instead of silently
// sharing it (and half its clients) through SO_REUSEPORT; the reactor,
// whose own loops do share it, is the first one here.
func TestSecondTargetOnSameAddress(t *testing.T) {
	bin := targetBin(t)
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	docroot := filepath.Join(root, "targets", "www")
	first := start(t, bin, "reactor", "--workers", "2", "--docroot", docroot)
	for _, args := range [][]string{{"epoll"}, {"reactor", "--workers", "2"}} {
		model := args[0]
		cmd := exec.Command(bin, append([]string{"--addr", first.addr, "--docroot", docroot, "--model"}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(startWait):
			cmd.Process.Kill()
			<-done
			t.Fatalf("second %s on %s still running after %v; stdout:\n%s", model, first.addr, startWait, &stdout)
		}
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Errorf("second %s: %v, want exit status 1", model, err)
		}
		msg := strings.TrimSuffix(stderr.String(), "\n")
		if strings.Contains(msg, "\n") || !strings.Contains(msg, "address already in use") || !strings.Contains(msg, first.addr) {
			t.Errorf("second %s: stderr %q, want one line saying the address %s is already in use", model, stderr.String(), first.addr)
		}
	}
	// The first one serves on.
	if r := first.fetch(t, get("/")); r.status != 200 {
		t.Fatalf("first target after the attempts: %v", r)
	}
}
