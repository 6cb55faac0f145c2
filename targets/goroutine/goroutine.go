// Package goroutine gives every connection a goroutine, the shape of
// net/http: the code reads like thread-per-connection, but a blocked read
// parks only a goroutine of a few KiB, and Go's netpoller (epoll) wakes it
// when its socket is ready. A few OS threads serve every client.
package goroutine

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/targets/blocking"
	"serverlab/targets/httpcore"
	"serverlab/targets/server"
)

// Model is goroutine-per-connection.
var Model = server.Model{
	Name:        "goroutine",
	Description: "one goroutine per connection on Go's netpoller (net/http's shape)",
	Serve:       serve,
}

func serve(env *server.Env) error {
	// net.FileListener takes its own duplicate of the socket and makes it
	// non-blocking, so that Accept parks on the netpoller. The os.File
	// wraps a duplicate too: closing it must not close env.Listener, which
	// the runtime still shuts down at exit.
	dup, err := unix.FcntlInt(uintptr(env.Listener), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("dup", err)
	}
	f := os.NewFile(uintptr(dup), "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return err
	}
	conns := newConnSet()
	go func() {
		<-env.Done
		ln.Close()    // wakes Accept
		conns.drain() // wakes reads, after in-flight responses
	}()

	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			// Shutdown closes ln, and the runtime shuts the shared socket
			// down (EINVAL), whichever Accept sees first.
			if errors.Is(err, net.ErrClosed) || errors.Is(err, unix.EINVAL) {
				return nil
			}
			select {
			case <-env.Done:
				return nil
			default:
			}
			// ln shares its socket with env.Listener.
			if !env.Stats.AcceptFailed(env.Listener, err, env.Done) {
				return nil
			}
			continue
		}
		env.Stats.AcceptOK()
		env.Stats.Accepted()
		conn := c.(*net.TCPConn)
		conns.add(conn)
		wg.Go(func() {
			defer func() {
				conns.remove(conn)
				conn.Close()
				env.Stats.Closed()
			}()
			handle(env, conn, env.Site.NewSession())
		})
	}
}

// handle is blocking.Serve written against net.Conn: deadlines instead of
// socket timeouts, and the goroutine parks where a thread would block. The
// same clock decides how long each call may wait.
func handle(env *server.Env, conn *net.TCPConn, sess *httpcore.Session) {
	clock := blocking.NewTimeouts(env.IdleTimeout, env.ReadTimeout, env.WriteTimeout)
	for {
		st := sess.Step(time.Now())
		if len(sess.Output()) > 0 {
			if !write(conn, sess, &clock) {
				return
			}
			clock.Answered(time.Now(), sess.Idle())
		}
		switch st {
		case httpcore.Close:
			return
		case httpcore.Flush:
			continue
		case httpcore.Wait:
			// Only this goroutine sleeps; its thread runs others.
			time.Sleep(time.Until(sess.WakeAt()))
			continue
		}
		wait, ok := clock.ReadWait(time.Now())
		if !ok {
			return
		}
		conn.SetReadDeadline(time.Now().Add(wait))
		n, err := conn.Read(sess.Buffer())
		if n > 0 {
			clock.Read(time.Now())
			sess.Filled(n)
		}
		switch {
		case err == io.EOF:
			sess.EOF()
		case err != nil:
			return // deadline passed, or the client reset
		}
	}
}

// write writes the session's pending output; false if the connection
// failed or the write timeout passed without progress.
func write(conn *net.TCPConn, sess *httpcore.Session, clock *blocking.Timeouts) bool {
	clock.StartWrite(time.Now())
	for out := sess.Output(); len(out) > 0; out = sess.Output() {
		wait, ok := clock.WriteWait(time.Now())
		if !ok {
			return false
		}
		conn.SetWriteDeadline(time.Now().Add(wait))
		n, err := conn.Write(out) // all of out, or short at the deadline
		sess.Wrote(n)
		clock.Wrote(time.Now(), n)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
	}
	return true
}

// connSet is the open connections, so that shutdown can end the reads of
// idle keep-alive clients instead of waiting out their idle timeout.
type connSet struct {
	mu       sync.Mutex
	conns    map[*net.TCPConn]struct{}
	draining bool
}

func newConnSet() *connSet { return &connSet{conns: map[*net.TCPConn]struct{}{}} }

func (s *connSet) add(c *net.TCPConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	if s.draining {
		c.CloseRead()
	}
}

func (s *connSet) remove(c *net.TCPConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// drain shuts the reading side of every connection: a client's next read
// is end-of-file, once the responses it already asked for are written.
func (s *connSet) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	for c := range s.conns {
		c.CloseRead()
	}
}
