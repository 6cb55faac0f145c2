package itest

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"

	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// misbehaving is a raw TCP server that answers every request the same
// wrong way.
type misbehaving struct {
	ln   net.Listener
	wg   sync.WaitGroup
	quit chan struct{}
}

// answers, by name: what the server does once it has read a request head.
var answers = map[string]func(c *net.TCPConn){
	"reset": func(c *net.TCPConn) { c.SetLinger(0) },
	"close": func(*net.TCPConn) {},
	"garbage": func(c *net.TCPConn) {
		c.Write([]byte("garbage\r\n\r\n"))
	},
	"cut body": func(c *net.TCPConn) {
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"))
	},
}

// statuses are kept-alive answers: the connection stays for the next one.
var statuses = map[string]string{
	"404": "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
	"500": "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nerror",
	"ok":  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
}

func serveMisbehaving(t *testing.T, how string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &misbehaving{ln: ln, quit: make(chan struct{})}
	var mu sync.Mutex
	var conns []net.Conn
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c.(*net.TCPConn), how)
			}()
		}
	}()
	t.Cleanup(func() {
		close(s.quit)
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		s.wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

func (s *misbehaving) serve(c *net.TCPConn, how string) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		if how == "silent" {
			<-s.quit
			return
		}
		if resp, ok := statuses[how]; ok {
			if _, err := c.Write([]byte(resp)); err != nil {
				return
			}
			continue
		}
		answers[how](c)
		return
	}
}

// refusing returns a URL where nothing listens.
func refusing(t *testing.T) string { return "http://" + testbin.RefusedAddr(t) }

// fullBacklog returns a URL whose connects time out (testbin.FullBacklog).
func fullBacklog(t *testing.T) string { return "http://" + testbin.FullBacklog(t) }

// Every way a request can fail, met by a Python worker running
// locustfile.py and by bin/boomer, each under its own Locust 2.47.0
// master: the failures CSVs must hold the same rows, so that one master
// with both kinds of workers groups each failure in one row. The table is
// logged; the README's is this one.
func TestFailureNamesMatchPythonWorkers(t *testing.T) {
	t.Parallel()
	l := testbin.Locust(t, locusts.Pinned)
	timeouts := []string{"--connect-timeout", "0.5", "--response-timeout", "0.5"}
	cases := []struct {
		event string
		host  func(t *testing.T) string
		users int
		fds   int
	}{
		{"connection refused", refusing, 1, 0},
		{"connect timeout", fullBacklog, 1, 0},
		{"response timeout", func(t *testing.T) string { return serveMisbehaving(t, "silent") }, 1, 0},
		{"reset by peer", func(t *testing.T) string { return serveMisbehaving(t, "reset") }, 1, 0},
		{"closed before the response", func(t *testing.T) string { return serveMisbehaving(t, "close") }, 1, 0},
		{"malformed response", func(t *testing.T) string { return serveMisbehaving(t, "garbage") }, 1, 0},
		{"body cut short", func(t *testing.T) string { return serveMisbehaving(t, "cut body") }, 1, 0},
		{"404", func(t *testing.T) string { return serveMisbehaving(t, "404") }, 1, 0},
		{"500", func(t *testing.T) string { return serveMisbehaving(t, "500") }, 1, 0},
		// Each user holds a connection: past the limit, connecting fails
		// in the worker itself.
		{"EMFILE in the worker", func(t *testing.T) string { return serveMisbehaving(t, "ok") }, 100, 64},
	}
	table := make([]string, len(cases))
	t.Run("events", func(t *testing.T) {
		for i, c := range cases {
			t.Run(c.event, func(t *testing.T) {
				t.Parallel()
				waiting.Join(t)
				host := c.host(t)
				got := map[bool][]string{}
				for _, python := range []bool{true, false} {
					r := run{locust: l, python: python, host: host, users: c.users, runTime: "4s",
						class: "LabUser", masterArgs: timeouts, fds: c.fds}.do(t)
					got[python] = texts(failures(t, r.prefix))
				}
				py, goes := got[true], got[false]
				if len(py) == 0 {
					t.Fatalf("the Python worker recorded no failure")
				}
				if joinLines(py) != joinLines(goes) {
					t.Errorf("failures differ:\nPython worker:\n%s\nGo worker:\n%s", joinLines(py), joinLines(goes))
				}
				table[i] = "| " + c.event + " | `" + strings.Join(py, "`<br>`") + "` |"
			})
		}
	})
	t.Logf("failure texts:\n%s", joinLines(table))
}
