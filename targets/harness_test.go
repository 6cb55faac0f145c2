package targets_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/testbin"
)

// Bounds on every wait, generous for two cores under the race detector:
// they decide whether a test fails, never how fast a model is.
const (
	startWait = 30 * time.Second
	ioWait    = 20 * time.Second
	exitWait  = 15 * time.Second
)

// target is one running bin/target.
type target struct {
	t      testing.TB
	model  string
	addr   string
	admin  string // "" without --admin-addr
	cmd    *exec.Cmd
	stderr *testbin.Output
	exited chan struct{} // closed when the process has been waited for
	err    error         // Wait's result, after exited
}

var readyLine = regexp.MustCompile(`^listening on (127\.0\.0\.1:\d+) \(model (\S+), pid (\d+)\)$`)

// start runs bin/target --model model on a free port with args and waits for
// its ready line. The process is stopped when the test ends.
func start(t testing.TB, bin, model string, args ...string) *target {
	t.Helper()
	return startEnv(t, bin, model, nil, args...)
}

// startEnv is start with variables added to the target's environment.
func startEnv(t testing.TB, bin, model string, env []string, args ...string) *target {
	t.Helper()
	args = append([]string{"--model", model, "--addr", "127.0.0.1:0"}, args...)
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	// Its own process group, so that a model's children can be found and,
	// if the model failed to stop them, stopped at the end.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{t: t, model: model, cmd: cmd, stderr: &testbin.Output{}, exited: make(chan struct{})}
	cmd.Stderr = tg.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", model, err)
	}
	go func() {
		tg.err = cmd.Wait()
		close(tg.exited)
	}()
	t.Cleanup(tg.stop)

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(startWait)
	for tg.addr == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				<-tg.exited
				t.Fatalf("%s exited before it was ready (%v); stderr:\n%s", model, tg.err, tg.stderr)
			}
			if a, ok := strings.CutPrefix(line, "admin on "); ok {
				tg.admin = a
				continue
			}
			m := readyLine.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("%s: unexpected stdout line %q", model, line)
			}
			if m[2] != model || m[3] != strconv.Itoa(cmd.Process.Pid) {
				t.Fatalf("%s: ready line %q names another model or pid (pid %d)", model, line, cmd.Process.Pid)
			}
			tg.addr = m[1]
		case <-timeout:
			t.Fatalf("%s not ready after %v; stderr:\n%s", model, startWait, tg.stderr)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return tg
}

// stop ends the target if it still runs: SIGTERM, then SIGKILL to its
// process group if it does not exit in time.
func (tg *target) stop() {
	select {
	case <-tg.exited:
		return
	default:
	}
	tg.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-tg.exited:
	case <-time.After(exitWait):
		tg.t.Errorf("%s did not exit %v after SIGTERM; killing it", tg.model, exitWait)
		syscall.Kill(-tg.cmd.Process.Pid, syscall.SIGKILL)
		<-tg.exited
	}
}

func (tg *target) pid() int { return tg.cmd.Process.Pid }

// dial connects to the target with a deadline on everything that follows.
func (tg *target) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tg.addr, ioWait)
	if err != nil {
		t.Fatalf("dial %s: %v", tg.addr, err)
	}
	c.SetDeadline(time.Now().Add(ioWait))
	t.Cleanup(func() { c.Close() })
	return c
}

// response is one parsed HTTP response.
type response struct {
	proto  string
	status int
	header map[string][]string // lower-case names
	body   []byte
}

func (r *response) get(name string) string {
	v := r.header[strings.ToLower(name)]
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (r *response) String() string {
	return fmt.Sprintf("%s %d %v body %q", r.proto, r.status, r.header, trunc(r.body))
}

func trunc(b []byte) []byte {
	if len(b) > 200 {
		return append(b[:200:200], "..."...)
	}
	return b
}

// readResponse reads one response; a response to HEAD has no body whatever
// its Content-Length says. Every response the targets send has a
// Content-Length: one without it is an error here.
func readResponse(br *bufio.Reader, head bool) (*response, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("status line: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") || len(rest) < 3 {
		return nil, fmt.Errorf("malformed status line %q", line)
	}
	status, err := strconv.Atoi(rest[:3])
	if err != nil {
		return nil, fmt.Errorf("malformed status line %q", line)
	}
	r := &response{proto: proto, status: status, header: map[string][]string{}}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("malformed header line %q", line)
		}
		name = strings.ToLower(name)
		r.header[name] = append(r.header[name], strings.TrimSpace(value))
	}
	if head {
		return r, nil
	}
	cl := r.get("Content-Length")
	if cl == "" && strings.EqualFold(r.get("Connection"), "close") {
		// net/http's own error responses: the body ends with the connection.
		b, err := io.ReadAll(br)
		r.body = b
		return r, err
	}
	n, err := strconv.Atoi(cl)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("status %d: bad or missing Content-Length %q", status, cl)
	}
	r.body = make([]byte, n)
	if _, err := io.ReadFull(br, r.body); err != nil {
		return nil, fmt.Errorf("body of %d bytes: %w", n, err)
	}
	return r, nil
}

// roundTrip sends raw on a new connection and reads one response.
func (tg *target) roundTrip(t testing.TB, raw string) (*response, net.Conn, *bufio.Reader) {
	t.Helper()
	c := tg.dial(t)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	br := bufio.NewReader(c)
	r, err := readResponse(br, strings.HasPrefix(raw, "HEAD "))
	if err != nil {
		t.Fatalf("request %q: %v", trunc([]byte(raw)), err)
	}
	return r, c, br
}

// fetch sends raw on a new connection, reads one response and closes the
// connection: a connection left open would hold up a model that serves one
// client at a time until its idle timeout.
func (tg *target) fetch(t testing.TB, raw string) *response {
	t.Helper()
	r, c, _ := tg.roundTrip(t, raw)
	c.Close()
	return r
}

// expectClosed fails unless the server closes c (end of file or reset) with
// nothing more to read.
func expectClosed(t testing.TB, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioWait))
	b, err := br.ReadByte()
	switch {
	case err == nil:
		rest, _ := br.Peek(br.Buffered())
		t.Fatalf("connection still open: read %q", append([]byte{b}, rest...))
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
	default:
		t.Fatalf("connection not closed: %v", err)
	}
}

// get fetches an admin URL.
func (tg *target) adminGet(t testing.TB, path string) (int, string) {
	t.Helper()
	if tg.admin == "" {
		t.Fatal("no admin address")
	}
	c := http.Client{Timeout: ioWait}
	resp, err := c.Get("http://" + tg.admin + path)
	if err != nil {
		t.Fatalf("admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("admin %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// metric is the value of the first sample of name carrying every one of
// labels (each as `key="value"`) in Prometheus text, and whether there is
// one. Other labels, such as the model's, do not matter.
func metric(text, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, set, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		have := strings.Split(strings.TrimSuffix(set, "}"), ",")
		if !containsAll(have, labels) {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		return v, err == nil
	}
	return 0, false
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// healthLine is the /healthz body: alive, the state, and the figures.
var healthLine = regexp.MustCompile(`^alive model=\S+ state=(serving|out-of-fds) open_fds=\d+ max_fds=\d+ emfile_total=\d+ shed_total=\d+\n$`)
