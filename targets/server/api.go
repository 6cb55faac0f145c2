// Package server is what every model runs in: the listening socket, limits,
// counters, the admin endpoint, and the shutdown signal.
package server

import (
	"log"
	"time"

	"serverlab/targets/httpcore"
)

// Config is the command line, shared by every model.
type Config struct {
	Model           string
	Addr            string
	Docroot         string
	Workers         int // 0: the model's default
	MaxFDs          int // 0: leave RLIMIT_NOFILE alone
	IdleTimeout     time.Duration
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	ShutdownTimeout time.Duration
	AdminAddr       string
	// OnEMFILE is what an accept path does when the descriptors run out:
	// "wait" backs off and leaves the clients in the backlog, "shed"
	// resets them at once with a spare descriptor.
	OnEMFILE string
}

// Env is what a model's Serve gets.
type Env struct {
	Config // Addr is the address actually bound (port 0 resolved)
	Site   *httpcore.Site
	// Stats counts connections, requests, responses and accept errors;
	// it is also the Site's Observer.
	Stats *Stats
	Log   *log.Logger
	// Listener is a bound, listening, blocking TCP socket (SO_REUSEADDR and
	// SO_REUSEPORT set). Models that need it non-blocking make it so.
	Listener int
	// Done is closed on SIGINT/SIGTERM: stop accepting, let in-flight
	// responses finish within ShutdownTimeout, close everything, stop and
	// reap every child and thread, then return nil.
	Done <-chan struct{}
	// ShutdownFD is an eventfd that becomes readable when shutdown begins,
	// for event loops to watch along with their sockets.
	ShutdownFD int
	// Conns tracks the connections of blocking models, so that shutdown can
	// wake threads blocked in read(2).
	Conns *Conns
}

// Model is one concurrency model.
type Model struct {
	Name           string
	Description    string
	DefaultWorkers func() int // nil: the model has no pool
	Serve          func(env *Env) error
	// Child, for process-based models, is run instead of Serve when the
	// binary is re-executed as one of the model's children.
	Child func(env *Env) error
}
