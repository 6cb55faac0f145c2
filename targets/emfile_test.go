package targets_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/repo"
)

// adminWait is how fast the admin endpoint must answer while the target is
// out of descriptors: a scraper sampling once a second must not miss.
const adminWait = time.Second

func docroot(t *testing.T) string {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "targets", "www")
}

// flood opens n connections to addr, each sending a request, and closes
// them when the test ends. Connections the kernel refuses are skipped.
func flood(t *testing.T, addr string, n int) []net.Conn {
	conns, _ := floodCounting(t, addr, n)
	return conns
}

// floodCounting is flood that also says how many connections were reset
// before the dial returned: a target that sheds can accept and reset a
// connection before the dialing goroutine has read the socket's state.
func floodCounting(t *testing.T, addr string, n int) (conns []net.Conn, resetAtDial int) {
	t.Helper()
	for range n {
		c, err := net.DialTimeout("tcp", addr, ioWait)
		if errors.Is(err, syscall.ECONNRESET) {
			resetAtDial++
		}
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(2 * ioWait))
		io.WriteString(c, get("/"))
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return conns, resetAtDial
}

// quickGet fetches an admin URL with within as the deadline.
func quickGet(tg *target, path string, within time.Duration) (int, string, error) {
	c := http.Client{Timeout: within}
	resp, err := c.Get("http://" + tg.admin + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestAdminWhileOutOfDescriptors: with the main port at its limit and more
// clients waiting, /metrics and /healthz answer within a second, with every
// figure read (the children's too, for process), and /healthz says the
// target is alive and out of descriptors. The process model's parent runs
// out in fork, its children are read through the reserve; the deadline is
// wider there, because 60 children of a race-detector build starting on two
// cores compete with the admin for the CPU, and what is checked there is
// that every reading is complete.
func TestAdminWhileOutOfDescriptors(t *testing.T) {
	bin := targetBin(t)
	for _, tc := range []struct {
		model  string
		conns  int
		within time.Duration
	}{{"epoll", 300, adminWait}, {"process", 60, 5 * time.Second}} {
		t.Run(tc.model, func(t *testing.T) {
			tg := start(t, bin, tc.model, "--docroot", docroot(t), "--max-fds", "64", "--admin-addr", "127.0.0.1:0")
			flood(t, tg.addr, tc.conns)
			deadline := time.Now().Add(ioWait)
			for {
				_, body, err := quickGet(tg, "/healthz", tc.within)
				if err == nil && strings.Contains(body, "state=out-of-fds") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/healthz never said out-of-fds with %d clients and --max-fds 64: %q %v; stderr:\n%s", tc.conns, body, err, tg.stderr)
				}
				time.Sleep(100 * time.Millisecond)
			}
			for i := range 5 {
				code, body, err := quickGet(tg, "/healthz", tc.within)
				if err != nil || code != 200 || !healthLine.MatchString(body) {
					t.Fatalf("/healthz %d while out of descriptors: %d %q %v", i, code, body, err)
				}
				code, text, err := quickGet(tg, "/metrics", tc.within)
				if err != nil || code != 200 {
					t.Fatalf("/metrics %d while out of descriptors: %d %v", i, code, err)
				}
				for _, name := range []string{"serverlab_open_fds", "serverlab_os_threads", "serverlab_resident_memory_bytes", "serverlab_cpu_seconds_total"} {
					if v, ok := metric(text, name); !ok || v <= 0 {
						t.Errorf("/metrics %d: %s = %v (present %v), want a reading", i, name, v, ok)
					}
				}
				if v, _ := metric(text, "serverlab_max_fds"); v != 64 {
					t.Errorf("/metrics %d: serverlab_max_fds = %v, want 64", i, v)
				}
				if v, _ := metric(text, "serverlab_metrics_read_errors_total"); v != 0 {
					t.Errorf("/metrics %d: %v readings failed", i, v)
				}
				if v, _ := metric(text, "serverlab_accept_errors_total", `errno="EMFILE"`); tc.model == "epoll" && v < 1 {
					t.Errorf("/metrics %d: no EMFILE counted", i)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

// TestAdminHalfSentRequests: clients that open admin connections and never
// finish a request neither hold descriptors the site needs (at most a few
// admin connections are open at once) nor stay open past the admin's
// header timeout.
func TestAdminHalfSentRequests(t *testing.T) {
	bin := targetBin(t)
	tg := start(t, bin, "epoll", "--docroot", docroot(t), "--max-fds", "64", "--admin-addr", "127.0.0.1:0")
	var half []net.Conn
	for range 200 {
		c, err := net.DialTimeout("tcp", tg.admin, ioWait)
		if err != nil {
			t.Fatalf("admin dial: %v", err)
		}
		defer c.Close()
		io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n")
		half = append(half, c)
	}
	// The site still has its descriptors: 30 clients at once are all served.
	var conns []net.Conn
	for range 30 {
		c := tg.dial(t)
		io.WriteString(c, get("/"))
		conns = append(conns, c)
	}
	for i, c := range conns {
		if r, err := readResponse(bufio.NewReader(c), false); err != nil || r.status != 200 {
			t.Fatalf("client %d of 30 with 200 half-sent admin requests: %v %v; stderr:\n%s", i, r, err, tg.stderr)
		}
	}
	// The first admin connections are closed by the header timeout.
	half[0].SetReadDeadline(time.Now().Add(ioWait))
	b, err := io.ReadAll(half[0])
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("half-sent admin request still open after %v: %v (read %q)", ioWait, err, b)
	}
}

// TestOnEMFILE: with --on-emfile wait (the default) the clients past the
// limit wait in the backlog, neither answered nor reset; with shed they
// are reset at once and counted. On a blocking model, an event loop and a
// reference.
func TestOnEMFILE(t *testing.T) {
	bin := targetBin(t)
	for _, model := range []string{"thread", "epoll", "nethttp"} {
		for _, mode := range []string{"wait", "shed"} {
			t.Run(model+"/"+mode, func(t *testing.T) {
				tg := start(t, bin, model, "--docroot", docroot(t), "--max-fds", "48", "--admin-addr", "127.0.0.1:0", "--on-emfile", mode)
				conns, resetAtDial := floodCounting(t, tg.addr, 80)
				// Each client reads until its response, a reset, or 3 s of
				// silence (still waiting in the backlog).
				var mu sync.Mutex
				outcome := map[string]int{}
				if resetAtDial > 0 {
					outcome["reset"] = resetAtDial
				}
				var wg sync.WaitGroup
				for _, c := range conns {
					wg.Go(func() {
						c.SetReadDeadline(time.Now().Add(3 * time.Second))
						r, err := readResponse(bufio.NewReader(c), false)
						var ne net.Error
						key := "other"
						switch {
						case err == nil && r.status == 200:
							key = "answered"
						case errors.Is(err, syscall.ECONNRESET):
							key = "reset"
						case errors.As(err, &ne) && ne.Timeout():
							key = "waiting"
						}
						if key == "other" {
							key = fmt.Sprintf("other: %v", err)
						}
						mu.Lock()
						outcome[key]++
						mu.Unlock()
					})
				}
				wg.Wait()
				_, text := tg.adminGet(t, "/metrics")
				shed, _ := metric(text, "serverlab_connections_shed_total")
				emfile, _ := metric(text, "serverlab_accept_errors_total", `errno="EMFILE"`)
				t.Logf("%d clients: %v; shed %v, EMFILE %v", len(conns), outcome, shed, emfile)
				if outcome["answered"] == 0 || emfile == 0 {
					t.Fatalf("want some clients answered and EMFILE counted: %v, EMFILE %v; stderr:\n%s", outcome, emfile, tg.stderr)
				}
				switch mode {
				case "wait":
					if outcome["reset"] > 0 || shed != 0 || outcome["waiting"] == 0 {
						t.Errorf("wait: want clients waiting, none reset or shed: %v, shed %v", outcome, shed)
					}
				case "shed":
					if outcome["reset"] == 0 || shed < float64(outcome["reset"]) || outcome["waiting"] > 0 {
						t.Errorf("shed: want the clients past the limit reset at once and counted, none waiting: %v, shed %v", outcome, shed)
					}
				}
				// Served again once the descriptors are back.
				for _, c := range conns {
					c.Close()
				}
				deadline := time.Now().Add(ioWait)
				for {
					c, err := net.DialTimeout("tcp", tg.addr, ioWait)
					if err == nil {
						c.SetDeadline(time.Now().Add(ioWait))
						io.WriteString(c, get("/"))
						r, err := readResponse(bufio.NewReader(c), false)
						c.Close()
						if err == nil && r.status == 200 {
							break
						}
					}
					if time.Now().After(deadline) {
						t.Fatalf("not served again after the clients left; stderr:\n%s", tg.stderr)
					}
					time.Sleep(100 * time.Millisecond)
				}
			})
		}
	}
}
