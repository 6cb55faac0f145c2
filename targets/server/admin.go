package server

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The admin endpoint must answer while the site is out of descriptors and
// while someone misuses the admin port itself, so it is bounded on every
// side: a few connections at a time, each closed after one request (no
// keep-alive to hold a slot), and deadlines on every step.
const (
	// adminReserve is the placeholders kept for the admin side: at a full
	// descriptor table, one is the /proc reading of a child at a time and
	// each other one an admin connection.
	adminReserve = 4
	// maxAdminConns bounds the admin connections open at once; more wait
	// in the admin listener's backlog.
	maxAdminConns = 8

	adminHeaderTimeout = 2 * time.Second
	adminReadTimeout   = 10 * time.Second
	adminWriteTimeout  = 10 * time.Second
)

// startAdmin serves /metrics and /healthz on addr and returns the address
// bound.
func startAdmin(addr string, stats *Stats, model string, p *placeholders, lg *log.Logger) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	raw, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin: %w", err)
	}
	res := newReserve(p, adminReserve)
	procs, err := newProcReader(os.Getpid(), res)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin: %w", err)
	}
	srv := &http.Server{
		Handler:           adminHandler(stats, model, procs),
		ReadHeaderTimeout: adminHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          lg,
	}
	srv.SetKeepAlivesEnabled(false)
	al := &adminListener{TCPListener: ln.(*net.TCPListener), raw: raw, res: res, slots: make(chan struct{}, maxAdminConns)}
	go srv.Serve(al)
	return ln.Addr(), nil
}

// adminListener accepts through the reserve, so that an admin client gets
// in when the site has taken every free descriptor, and at most
// maxAdminConns at a time.
type adminListener struct {
	*net.TCPListener
	raw   syscall.RawConn
	res   *reserve
	slots chan struct{} // one token per open admin connection
}

func (l *adminListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	for {
		// Wait for a client without holding anything: a placeholder is
		// freed only when a connection is there to take its slot. Go's
		// netpoller offers no wait for a listener's readiness alone, so
		// this goroutine waits in poll(2), a second at a time.
		var ready bool
		err := l.raw.Control(func(fd uintptr) { ready = readable(int(fd), time.Second) })
		if err == nil && !ready {
			continue
		}
		var c net.Conn
		if err == nil {
			l.res.lock()
			// The client may have gone between the poll and the accept; the
			// deadline keeps the reserve from being held for the next one.
			l.SetDeadline(time.Now().Add(time.Second))
			err = l.res.try(func() error {
				var err error
				c, err = l.TCPListener.Accept()
				return err
			})
			l.SetDeadline(time.Time{})
			l.res.unlock()
		}
		switch {
		case err == nil:
			return &adminConn{Conn: c, l: l}, nil
		case errors.Is(err, net.ErrClosed):
			<-l.slots
			return nil, err
		case errors.Is(err, os.ErrDeadlineExceeded):
		default:
			// Out of descriptors with the reserve spent on other admin
			// connections: one of them closes within the timeouts.
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// adminConn gives its token back, and its slot to the reserve, on close.
type adminConn struct {
	net.Conn
	l    *adminListener
	once sync.Once
}

func (c *adminConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.res.lock()
		c.l.res.unlock() // tops the reserve up with the slot just freed
		<-c.l.slots
	})
	return err
}

// adminHandler serves /metrics and /healthz.
func adminHandler(s *Stats, model string, procs *procReader) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(s, model, procs))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(healthLine(s, model, procs)))
	})
	return mux
}

// healthLine is /healthz's body: the target answers, so it is alive (the
// status is always 200), and the line says whether it is out of
// descriptors, with the figures, as key=value pairs. Out of descriptors is
// an accept that failed for want of one lately, or the target's table
// full (placeholders included), which is how the process model's parent
// runs out: in fork, not in accept. A figure that cannot be read is left
// out.
func healthLine(s *Stats, model string, procs *procReader) string {
	out := s.OutOfFDs()
	var figures string
	n, nerr := procs.selfFDs()
	if nerr == nil {
		figures += fmt.Sprintf(" open_fds=%d", n)
	}
	max, merr := softMaxFDs()
	if merr == nil {
		figures += fmt.Sprintf(" max_fds=%d", max)
		out = out || (nerr == nil && uint64(n) >= max)
	}
	state := "serving"
	if out {
		state = "out-of-fds"
	}
	sn := s.Snapshot()
	return fmt.Sprintf("alive model=%s state=%s%s emfile_total=%d shed_total=%d\n",
		model, state, figures, sn.AcceptErrors[syscall.EMFILE], sn.Shed)
}
