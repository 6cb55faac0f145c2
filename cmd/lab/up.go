package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"

	"serverlab/lab/runner"
)

const upAbout = `
Starts every target model at once, each on its own loopback ports, a Locust
master with its web UI (the class picker on, the Target choice leading to
each model's ports, the Target tab to its admin port), and Go workers; prints
the web UI's URL and where each target is, and stops everything on Ctrl-C.
Flags after -- go to every target as they are (bin/target --help).
`

type upFlags struct {
	cfg    runner.UpConfig
	models string
	cpus   string
	logs   string
	bin    string
	repo   string
}

func upFlagSet(f *upFlags) *flag.FlagSet {
	fs := newFlags("lab up")
	c := &f.cfg
	fs.StringVar(&f.models, "models", "", "comma-separated `LIST` of models to start (default every one bin/target lists)")
	fs.IntVar(&c.Workers, "workers", 1, "bin/boomer worker processes, `N`")
	fs.IntVar(&c.PortBase, "port-base", 8100, fmt.Sprintf("the `PORT` ports count from: the i-th model of bin/target --list serves its site on PORT+i and its /metrics on PORT+%d+i; 0: free ports the system picks", runner.AdminOffset))
	fs.StringVar(&c.WebHost, "web-host", "127.0.0.1", "the web UI's bind `ADDRESS`; 0.0.0.0 to reach it from elsewhere")
	fs.IntVar(&c.WebPort, "web-port", 8089, "the web UI's `PORT`; 0: a free one")
	fs.IntVar(&c.MasterPort, "master-port", 5557, "the `PORT` workers join the master on (127.0.0.1); 0: a free one")
	fs.StringVar(&c.Target, "target", "", "the `MODEL` the web UI's form starts with (default epoll, else the first started)")
	fs.IntVar(&c.MaxFDs, "max-fds", 0, "every target's open-files limit, `N` (default inherited)")
	fs.IntVar(&c.Pool, "pool", 0, "every target's --workers (pool size), `N` (default each model's own)")
	fs.StringVar(&c.OnEMFILE, "on-emfile", "", "what every target does at EMFILE, `MODE`: wait or shed (default bin/target's)")
	fs.StringVar(&f.cpus, "cpus", "", "CPUs of the targets : of Locust and its workers, `T:L`, e.g. 0:1 (default first half : second half; none pins nothing)")
	fs.StringVar(&c.Locust, "locust", "", "the Locust master to run, a `PATH` or command (default $"+runner.LocustEnv+", else the version requirements.txt pins)")
	fs.StringVar(&f.logs, "logs", "", "where every process's log goes, `DIR` (default a new folder in $TMPDIR)")
	fs.StringVar(&f.bin, "bin", "", "where target and boomer are, `DIR` (default next to lab)")
	fs.StringVar(&f.repo, "repo", "", "the checkout with locustfile.py, `DIR` (default found from here)")
	return fs
}

func parseUpFlags(args []string) (*upFlags, error) {
	f := &upFlags{}
	fs := upFlagSet(f)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c := &f.cfg
	// flag stops at "--": what follows is bin/target's.
	if n := len(args) - fs.NArg(); fs.NArg() > 0 && (n == 0 || args[n-1] != "--") {
		return nil, fmt.Errorf("unexpected argument %q (flags for the targets go after --)", fs.Arg(0))
	}
	c.TargetArgs = fs.Args()
	var err error
	switch f.cpus {
	case "":
		c.CPUs = runner.DefaultCPUs()
	case "none":
	default:
		if c.CPUs, err = runner.ParseCPUs(f.cpus); err != nil {
			return nil, err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["models"] {
		if c.Models = splitList(f.models); len(c.Models) == 0 {
			return nil, fmt.Errorf("--models %q names no model", f.models)
		}
	}
	return f, nil
}

// upMain is `lab up`: 0 stopped by Ctrl-C (SIGINT) or SIGTERM, 1 something
// failed, 2 bad usage.
func upMain(args []string, stdout, stderr io.Writer) int {
	f, err := parseUpFlags(args)
	if isHelp(err) {
		printHelp(stdout, upFlagSet(&upFlags{}), "lab up [flags] [-- target flags]", upAbout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "lab up: %v (lab up --help)\n", err)
		return 2
	}
	c := &f.cfg
	dirs := runner.Config{BinDir: f.bin, Repo: f.repo, Out: os.TempDir()}
	if err := resolveDirs(&dirs); err != nil {
		fmt.Fprintf(stderr, "lab up: %v\n", err)
		return 2
	}
	c.BinDir, c.Repo = dirs.BinDir, dirs.Repo
	if c.All, err = runner.ListModels(c.BinDir); err != nil {
		fmt.Fprintf(stderr, "lab up: %v\n", err)
		return 1
	}
	if len(c.Models) == 0 {
		c.Models = c.All
	}
	if c.Target == "" {
		c.Target = c.Models[0]
		if slices.Contains(c.Models, "epoll") {
			c.Target = "epoll"
		}
	}
	if err := c.Validate(); err != nil {
		fmt.Fprintf(stderr, "lab up: %v\n", err)
		return 2
	}
	if c.Logs = f.logs; c.Logs == "" {
		if c.Logs, err = os.MkdirTemp("", "serverlab-up-"); err != nil {
			fmt.Fprintf(stderr, "lab up: %v\n", err)
			return 1
		}
	} else if c.Logs, err = filepath.Abs(c.Logs); err != nil {
		fmt.Fprintf(stderr, "lab up: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runner.Up(ctx, *c, stdout, nil); err != nil && !errors.Is(err, runner.ErrInterrupted) {
		fmt.Fprintf(stderr, "lab up: %s\n", oneLine(err.Error()))
		if logs, _ := os.ReadDir(c.Logs); len(logs) > 0 {
			fmt.Fprintf(stderr, "lab up: logs in %s\n", c.Logs)
		} else if f.logs == "" {
			os.Remove(c.Logs) // refused before anything ran: nothing to keep
		}
		return 1
	}
	return 0
}
