package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/targets/httpcore"
)

// Defaults of the timeouts; the same for every model.
const (
	DefaultIdleTimeout     = 60 * time.Second
	DefaultReadTimeout     = 10 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
)

// Main is the whole target command: it parses the flags, sets the limits,
// opens the listener and the admin endpoint, runs the chosen model and
// shuts it down on SIGINT or SIGTERM. It returns the exit status.
func Main(models []Model, args []string, stdout, stderr io.Writer) int {
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Name
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "target: %s (models: %s)\n", fmt.Sprintf(format, a...), strings.Join(names, ", "))
		return 2
	}

	var cfg Config
	var list bool
	var probe string
	fs := flag.NewFlagSet("target", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&list, "list", false, "print the models, one per line, and exit")
	fs.StringVar(&cfg.Model, "model", "", "the concurrency model to run (see --list)")
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	fs.StringVar(&cfg.Docroot, "docroot", httpcore.DefaultDocDir, "the site to serve")
	fs.IntVar(&cfg.Workers, "workers", 0, "pool size for prefork, threadpool and reactor (0: the model's default)")
	fs.IntVar(&cfg.MaxFDs, "max-fds", 0, "set the soft RLIMIT_NOFILE to N (0: leave it)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", DefaultIdleTimeout, "close a keep-alive connection idle this long")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", DefaultReadTimeout, "close a connection whose request does not arrive within this")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", DefaultWriteTimeout, "close a connection that does not take a response within this")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "on SIGINT/SIGTERM, wait this long for in-flight responses")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "", "serve /metrics and /healthz on this address")
	fs.StringVar(&cfg.OnEMFILE, "on-emfile", "wait", "when accept(2) runs out of descriptors: wait (back off, clients wait in the backlog) or shed (reset the waiting clients at once)")
	fs.StringVar(&probe, "probe", "", "GET this URL and exit 0 if it answers 200 (a container health check)")
	help := false
	fs.BoolVar(&help, "help", false, "")
	fs.BoolVar(&help, "h", false, "")
	if err := fs.Parse(args); err != nil {
		return usageErr("%v", err)
	}
	if help {
		fmt.Fprintln(stdout, "usage: target --model NAME [flags]\n\nflags:")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name == "h" || f.Name == "help" {
				return
			}
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(stdout, "  %s\n      %s", strings.TrimSpace("--"+f.Name+" "+name), usage)
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
				fmt.Fprintf(stdout, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(stdout)
		})
		fmt.Fprintln(stdout, "\nmodels:")
		for _, m := range models {
			fmt.Fprintf(stdout, "  %-11s %s\n", m.Name, m.Description)
		}
		return 0
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if list {
		for _, m := range models {
			fmt.Fprintf(stdout, "%s\t%s\n", m.Name, m.Description)
		}
		return 0
	}
	if probe != "" {
		return runProbe(probe, stderr)
	}
	var model *Model
	for i := range models {
		if models[i].Name == cfg.Model {
			model = &models[i]
		}
	}
	switch {
	case cfg.Model == "":
		return usageErr("--model is required")
	case model == nil:
		return usageErr("unknown model %q", cfg.Model)
	case cfg.Workers < 0:
		return usageErr("--workers must be 0 or more")
	case cfg.MaxFDs < 0:
		return usageErr("--max-fds must be 0 or more")
	case cfg.OnEMFILE != "wait" && cfg.OnEMFILE != "shed":
		return usageErr("--on-emfile must be wait or shed, not %q", cfg.OnEMFILE)
	case cfg.IdleTimeout <= 0 || cfg.ReadTimeout <= 0 || cfg.WriteTimeout <= 0 || cfg.ShutdownTimeout <= 0:
		return usageErr("timeouts must be positive")
	}

	lg := log.New(stderr, fmt.Sprintf("target %s[%d]: ", cfg.Model, os.Getpid()), log.LstdFlags|log.Lmicroseconds)
	if err := run(model, cfg, lg, stdout); err != nil {
		fmt.Fprintf(stderr, "target: %v\n", err)
		return 1
	}
	return 0
}

func run(model *Model, cfg Config, lg *log.Logger, stdout io.Writer) error {
	child := isChild()
	if cfg.MaxFDs > 0 {
		if err := setMaxFDs(cfg.MaxFDs); err != nil {
			return err
		}
	}
	counters := -1
	if child {
		counters = childCounter
	}
	stats, err := newStats(counters, lg)
	if err != nil {
		return err
	}
	// Placeholders are made first, while descriptors are surely free; a
	// process child, which got its connection and accepts none, needs none.
	var holders *placeholders
	shed := cfg.OnEMFILE == "shed" && (!child || listening(childSocket))
	if shed || (cfg.AdminAddr != "" && !child) {
		if holders, err = newPlaceholders(); err != nil {
			return err
		}
	}
	if shed {
		stats.spare = newSpare(holders)
	}
	site, err := httpcore.LoadSite(cfg.Docroot, stats)
	if err != nil {
		return err
	}
	if model.DefaultWorkers != nil {
		if cfg.Workers == 0 {
			cfg.Workers = model.DefaultWorkers()
			if !child {
				lg.Printf("%d workers (the default; --workers changes it)", cfg.Workers)
			}
		}
	} else if cfg.Workers != 0 && !child {
		lg.Printf("--workers ignored: model %s has no pool", model.Name)
	}
	shutdownFD, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return os.NewSyscallError("eventfd", err)
	}
	done := make(chan struct{})
	env := &Env{
		Config: cfg, Site: site, Stats: stats, Log: lg,
		Done: done, ShutdownFD: shutdownFD, Conns: newConns(),
	}

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)

	serve := model.Serve
	if child {
		if model.Child == nil {
			return fmt.Errorf("model %s has no child processes", model.Name)
		}
		env.Listener = childSocket
		serve = model.Child
	} else {
		fd, bound, err := Listen(cfg.Addr)
		if err != nil {
			return err
		}
		env.Listener, env.Addr = fd, bound
		if cfg.AdminAddr != "" {
			addr, err := startAdmin(cfg.AdminAddr, stats, model.Name, holders, lg)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "admin on %s\n", addr)
		}
		fmt.Fprintf(stdout, "listening on %s (model %s, pid %d)\n", bound, model.Name, os.Getpid())
	}

	served := make(chan error, 1)
	go func() { served <- serve(env) }()
	select {
	case err := <-served:
		if err != nil {
			return err
		}
		return nil // a child that served its connection, or a model that stopped by itself
	case sig := <-signals:
		if !child {
			lg.Printf("%v: draining for up to %v", sig, cfg.ShutdownTimeout)
		}
	}
	close(done)
	unix.Write(shutdownFD, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	// A thread blocked in accept(2) or read(2) sees neither the channel nor
	// the eventfd; shutting down the reading side wakes it.
	unix.Shutdown(env.Listener, unix.SHUT_RD)
	env.Conns.drain()
	grace := time.NewTimer(cfg.ShutdownTimeout + time.Second)
	defer grace.Stop()
	select {
	case err := <-served:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			lg.Printf("stopped: %v", err)
		}
	case <-grace.C:
		lg.Printf("connections still open after %v: closing them", cfg.ShutdownTimeout)
	case sig := <-signals:
		lg.Printf("%v again: stopping now", sig)
	}
	return nil
}

// listening reports whether fd is a listening socket (a prefork child's)
// rather than a connection (a process child's).
func listening(fd int) bool {
	n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	return err == nil && n == 1
}

// setMaxFDs sets the soft limit of open descriptors, so that "too many open
// files" can be reproduced on purpose.
func setMaxFDs(n int) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return os.NewSyscallError("getrlimit", err)
	}
	if uint64(n) > lim.Max {
		return fmt.Errorf("--max-fds %d is above the hard limit %d", n, lim.Max)
	}
	lim.Cur = uint64(n)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return os.NewSyscallError("setrlimit", err)
	}
	return nil
}

func runProbe(url string, stderr io.Writer) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		fmt.Fprintf(stderr, "probe: %s\n", resp.Status)
		return 1
	}
	return 0
}
