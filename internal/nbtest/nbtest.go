// Package nbtest runs an event-loop model as a real server process for its
// package's tests, and checks what every event loop must get right: many
// connections on one thread, keep-alive and pipelining, a delayed response
// that does not hold up the others, back-pressure, closing without losing
// the response, timeouts, and the draining shutdown.
//
// The server is the test binary itself, re-executed: Main, called from the
// package's TestMain, runs server.Main with the one model when the
// environment asks for it.
package nbtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/launch"
	"serverlab/internal/repo"
	"serverlab/internal/testbin"
	"serverlab/targets/server"
)

const serveEnv = "SERVERLAB_NBTEST_SERVE"

var model server.Model

// Main is the package's TestMain: it serves model when re-executed as the
// server, else runs the tests.
func Main(m *testing.M, mod server.Model) {
	model = mod
	if os.Getenv(serveEnv) == "1" {
		os.Exit(server.Main([]server.Model{mod}, os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// Target is a running server process.
type Target struct {
	Addr    string
	Docroot string
	cmd     *exec.Cmd
	stderr  *testbin.Output
	waited  chan error
	stopped bool
}

// Start runs the model on a free port of 127.0.0.1 with the extra flags
// args, and stops it when the test ends.
func Start(t *testing.T, args ...string) *Target {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	docroot := filepath.Join(root, "targets", "www")
	all := append([]string{"--model", model.Name, "--addr", "127.0.0.1:0", "--docroot", docroot}, args...)
	cmd := exec.Command(os.Args[0], all...)
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	tg := &Target{Docroot: docroot, cmd: cmd, stderr: &testbin.Output{}, waited: make(chan error, 1)}
	cmd.Stderr = tg.stderr
	p, err := launch.Start(cmd, 30*time.Second)
	if err != nil {
		t.Fatalf("server: %v; stderr:\n%s", err, tg.stderr)
	}
	tg.Addr = p.Ready.Addr
	go func() {
		<-p.Exited()
		tg.waited <- p.Err()
	}()
	t.Cleanup(func() {
		if !tg.stopped {
			cmd.Process.Kill()
			<-tg.waited
		}
	})
	return tg
}

// Stop sends SIGTERM and checks the server exits 0 within its grace.
func (tg *Target) Stop(t *testing.T) {
	t.Helper()
	tg.Signal(t)
	tg.Wait(t)
}

// Signal sends SIGTERM: the server starts draining.
func (tg *Target) Signal(t *testing.T) {
	t.Helper()
	if err := tg.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// Wait waits for the server to exit after Signal and checks it exited 0.
func (tg *Target) Wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-tg.waited:
		tg.stopped = true
		if err != nil {
			t.Fatalf("server exited with %v; stderr:\n%s", err, tg.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("server still running 30s after SIGTERM; stderr:\n%s", tg.stderr)
	}
}

// Stderr is what the server logged so far.
func (tg *Target) Stderr() string { return tg.stderr.String() }

// File is the content of a file of the site.
func (tg *Target) File(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tg.Docroot, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Client is one connection to a Target.
type Client struct {
	t    *testing.T
	Conn net.Conn
	br   *bufio.Reader
}

// Dial connects to the target; the connection is closed when the test ends.
func (tg *Target) Dial(t *testing.T) *Client {
	t.Helper()
	c, err := net.DialTimeout("tcp", tg.Addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Client{t: t, Conn: c, br: bufio.NewReader(c)}
}

// Send writes raw request bytes.
func (c *Client) Send(s string) {
	c.t.Helper()
	c.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// Get sends a keep-alive GET for target.
func (c *Client) Get(target string) {
	c.t.Helper()
	c.Send(Request(target))
}

// Request is a keep-alive HTTP/1.1 GET for target.
func Request(target string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
}

// Response is one parsed response.
type Response struct {
	Status int
	Header map[string]string // canonical names as sent, lower-cased keys
	Body   []byte
}

// Read reads one response, failing the test if none comes within d.
func (c *Client) Read(d time.Duration) Response {
	c.t.Helper()
	r, err := c.TryRead(d)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// TryRead reads one response within d.
func (c *Client) TryRead(d time.Duration) (Response, error) {
	c.Conn.SetReadDeadline(time.Now().Add(d))
	line, err := c.br.ReadString('\n')
	if err != nil {
		return Response{}, err
	}
	f := strings.SplitN(strings.TrimRight(line, "\r\n"), " ", 3)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") {
		return Response{}, fmt.Errorf("bad status line %q", line)
	}
	r := Response{Header: map[string]string{}}
	if r.Status, err = strconv.Atoi(f[1]); err != nil {
		return Response{}, fmt.Errorf("bad status line %q", line)
	}
	for {
		h, err := c.br.ReadString('\n')
		if err != nil {
			return Response{}, err
		}
		h = strings.TrimRight(h, "\r\n")
		if h == "" {
			break
		}
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return Response{}, fmt.Errorf("bad header line %q", h)
		}
		r.Header[strings.ToLower(k)] = strings.TrimSpace(v)
	}
	n, err := strconv.Atoi(r.Header["content-length"])
	if err != nil {
		return Response{}, fmt.Errorf("no Content-Length in a %d response", r.Status)
	}
	r.Body = make([]byte, n)
	if _, err := io.ReadFull(c.br, r.Body); err != nil {
		return Response{}, err
	}
	return r, nil
}

// ExpectEOF checks the server closes the connection (cleanly, with nothing
// more to read) within d.
func (c *Client) ExpectEOF(d time.Duration) {
	c.t.Helper()
	c.Conn.SetReadDeadline(time.Now().Add(d))
	b, err := c.br.ReadByte()
	if err == nil {
		c.t.Fatalf("read %q, want the connection closed", b)
	}
	if !errors.Is(err, io.EOF) {
		c.t.Fatalf("want the connection closed, got %v", err)
	}
}

// ExpectClosed checks the connection ends within d, closed or reset,
// with nothing more to read.
func (c *Client) ExpectClosed(d time.Duration) {
	c.t.Helper()
	c.Conn.SetReadDeadline(time.Now().Add(d))
	b, err := c.br.ReadByte()
	if err == nil {
		c.t.Fatalf("read %q, want the connection closed", b)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Fatalf("want the connection closed, got %v", err)
	}
}

// ExpectNothing checks that nothing arrives within d: no response, no close.
func (c *Client) ExpectNothing(d time.Duration) {
	c.t.Helper()
	c.Conn.SetReadDeadline(time.Now().Add(d))
	b, err := c.br.ReadByte()
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("want nothing yet, got %q, %v", b, err)
	}
}
