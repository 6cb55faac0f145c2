// Command boomer is serverlab's Locust worker in Go: a real Locust master
// (2.12.1 or newer, running locustfile.py) drives it as it drives Python
// workers, and it runs the same user classes with far less CPU per request.
// It also runs standalone, and can dry-run one class's tasks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"serverlab/boomer"
	"serverlab/boomer/httpuser"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit status: 0 done, 1 failed,
// 2 bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "boomer: %v (see boomer --help)\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.level}))
	if os.Getenv("GOGC") == "" {
		// A worker's heap is its waiting users: long-lived, with little
		// garbage per request. Go's default lets the heap grow to twice
		// what is live before collecting, which 10,000 users pay in
		// resident memory; half again costs a busy worker a collection
		// of a small heap twice as often, and a large one a third of its
		// memory. GOGC still wins.
		debug.SetGCPercent(50)
	}

	if err := setFDLimit(cfg.maxFDs, log); err != nil {
		fmt.Fprintf(stderr, "boomer: %v\n", err)
		return 1
	}
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "boomer: %v\n", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "boomer: cpu profile: %v\n", err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	status := 0
	switch {
	case cfg.runTasks != "":
		status = runTasks(ctx, cfg, stdout, stderr)
	default:
		status = runUsers(ctx, cfg, stdout, stderr, log)
	}

	if cfg.memprofile != "" {
		if err := writeHeapProfile(cfg.memprofile); err != nil {
			fmt.Fprintf(stderr, "boomer: memory profile: %v\n", err)
			status = 1
		}
	}
	return status
}

// runUsers runs the classes as a worker of a master, or standalone.
func runUsers(ctx context.Context, cfg *config, stdout, stderr io.Writer, log *slog.Logger) int {
	opts := boomer.Options{
		MasterHost:  cfg.masterHost,
		MasterPort:  cfg.masterPort,
		MaxRPS:      cfg.maxRPS,
		ResolveHost: hostResolver(cfg.targetURL, cfg.host),
		Logger:      log,
		Ports:       max(len(cfg.sources), 1) * httpuser.EphemeralPorts(),
	}
	classes := userClasses(httpOptionsFor(cfg), nil)
	var b *boomer.Boomer
	if cfg.standalone {
		b = boomer.NewStandaloneBoomer(opts, cfg.users, cfg.spawnRate, cfg.runTime)
		log.Info("running standalone", "host", cfg.host, "users", cfg.users, "spawn_rate", cfg.spawnRate, "run_time", cfg.runTime)
	} else {
		b = boomer.NewBoomer(opts)
		log.Info("worker starting", "master", fmt.Sprintf("%s:%d", cfg.masterHost, cfg.masterPort),
			"classes", classNames(classes))
	}
	if err := b.Run(ctx, classes...); err != nil {
		fmt.Fprintf(stderr, "boomer: %v\n", err)
		return 1
	}
	if cfg.standalone {
		fmt.Fprint(stdout, b.Summary())
	}
	return 0
}

func httpOptionsFor(cfg *config) httpuser.Options {
	o := httpuser.Options{Close: cfg.close, ConnectTimeout: cfg.connectTimeout, ResponseTimeout: cfg.responseTimeout, MaxBody: cfg.maxBody}
	if len(cfg.sources) > 0 {
		o.Sources = httpuser.NewSources(cfg.sources)
	}
	return o
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC() // the profile then shows what is live, not garbage
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
