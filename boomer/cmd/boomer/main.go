// Command boomer is serverlab's Locust worker in Go: a real Locust master
// (2.12.1 or newer) drives it as it drives Python workers, and sends it the
// user classes its locustfile declares (serverlab_locust.declare), which it
// runs with far less CPU per request. It also runs a locustfile's declared
// classes standalone, and can dry-run one class's tasks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"serverlab/boomer"
	"serverlab/boomer/declared"
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

// awaitClasses bounds the wait for a master's declared classes after
// each connection; a master answers at once unless its locustfile does
// not import serverlab_locust.declare.
const awaitClasses = 5 * time.Second

// runUsers runs the master's declared classes as its worker, or the
// locustfile's standalone.
func runUsers(ctx context.Context, cfg *config, stdout, stderr io.Writer, log *slog.Logger) int {
	opts := boomer.Options{
		MasterHost:  cfg.masterHost,
		MasterPort:  cfg.masterPort,
		MaxRPS:      cfg.maxRPS,
		ResolveHost: hostResolver(cfg.targetURL, cfg.host),
		Logger:      log,
		Ports:       max(len(cfg.sources), 1) * httpuser.EphemeralPorts(),
	}
	dopts := declared.Options{HTTP: httpOptionsFor(cfg)}
	if !cfg.standalone {
		opts.AwaitClasses = awaitClasses
		b := boomer.NewBoomer(opts)
		declared.Serve(b, nil, dopts, log)
		openModel(ctx, b, log)
		log.Info("worker starting", "master", fmt.Sprintf("%s:%d", cfg.masterHost, cfg.masterPort))
		if err := b.Run(ctx); err != nil {
			fmt.Fprintf(stderr, "boomer: %v\n", err)
			return 1
		}
		return 0
	}
	spec, err := loadSpec(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "boomer: %v\n", err)
		return 1
	}
	classes, err := pickClasses(spec, dopts, cfg.classes, log)
	if err != nil {
		fmt.Fprintf(stderr, "boomer: %v\n", err)
		return 1
	}
	b := boomer.NewStandaloneBoomer(opts, cfg.users, cfg.spawnRate, cfg.runTime)
	log.Info("running standalone", "host", cfg.host, "users", cfg.users, "spawn_rate", cfg.spawnRate,
		"run_time", cfg.runTime, "classes", classNames(classes))
	if err := b.Run(ctx, classes...); err != nil {
		fmt.Fprintf(stderr, "boomer: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, b.Summary())
	// As Locust: a run with any failed request exits 1.
	if _, failures := b.Totals(); failures > 0 {
		return 1
	}
	return 0
}

// pickClasses returns the classes named (all the runnable ones when none
// is), refusing a name the locustfile lacks or a class Go cannot run.
func pickClasses(spec *declared.Spec, opts declared.Options, names []string, log *slog.Logger) ([]*boomer.UserClass, error) {
	all, unsupported := spec.UserClasses(opts)
	if len(names) == 0 {
		if len(unsupported) > 0 {
			log.Warn("the locustfile has classes a Go worker cannot run; running the others",
				"cannot_run", declared.Describe(unsupported))
		}
		if len(all) == 0 {
			return nil, errors.New("the locustfile declares no class a Go worker can run")
		}
		return all, nil
	}
	var out []*boomer.UserClass
	for _, name := range names {
		if why, ok := unsupported[name]; ok {
			return nil, fmt.Errorf("user class %s cannot run on a Go worker: %s", name, why)
		}
		i := slices.IndexFunc(all, func(c *boomer.UserClass) bool { return c.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown user class %s (the locustfile has %s)", name,
				strings.Join(append(classNames(all), slices.Sorted(maps.Keys(unsupported))...), ", "))
		}
		if !slices.Contains(out, all[i]) {
			out = append(out, all[i])
		}
	}
	return out, nil
}

func classNames(classes []*boomer.UserClass) []string {
	names := make([]string, len(classes))
	for i, c := range classes {
		names[i] = c.Name
	}
	return names
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
