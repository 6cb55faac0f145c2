package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"serverlab/boomer/httpuser"
)

const usage = `usage: boomer [options] [--standalone ... [UserClass ...]]

A Locust worker in Go. It connects to a Locust master and runs the user
classes the master's locustfile declares (serverlab_locust.declare), which
the master sends it.

  --master-host HOST     master to connect to (default 127.0.0.1)
  --master-port PORT     master's port (default 5557)
  -H, --host URL         target base URL, e.g. http://127.0.0.1:8080 (https://
                         too; a path or query is joined to each request's
                         path, as Locust's HttpUser joins them)
  --target-url TEMPLATE  target URL for the model the master's --target names,
                         {model} replaced: e.g. http://target-{model}:8080
                         The host is the master's (its -H or the web UI's
                         Host field), else --target-url, else -H.
  --max-fds N            lower the open-files limit to N (by default the
                         soft limit is raised to the hard one)
  --max-rps N            at most N requests a second over all users
  --close                send Connection: close; a new connection per request
  --source-addrs LIST    local addresses to dial from, each user one in turn:
                         127.0.0.2,127.0.0.3 or a range 127.0.0.1-127.0.0.4.
                         One address reaches one target port with as many
                         connections as there are ephemeral ports (about
                         28,000); each more address adds as many.
  --connect-timeout S    seconds to wait for a connection, and for the request
                         to be sent (default 5; 0: the kernel's own limit)
  --response-timeout S   seconds to wait for a response's first byte, and for
                         each next one (default 10; 0: forever)
                         A master's --connect-timeout and --response-timeout
                         win over these two.
  --max-body SIZE        the largest response body a request may get: bytes,
                         or with k, M or G (default 16M); a longer one is the
                         failure ResponseTooLarge('Response body over N bytes
                         (max body)'). Bodies are counted, never kept.
  --loglevel LEVEL       DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO)
  --run-tasks CLASS      run each task of CLASS once against -H, print the
                         outcomes and exit (1 if any request failed)
  --standalone           run without a master against -H, then print stats
                         and exit (1 if any request failed); the classes
                         named after the options, or all of them:
    --users N            users to run (default 1)
    --spawn-rate R       users started per second (default 1)
    --run-time D         how long to run: 30s, 5m, 1h30m, or seconds (default 1m)
  -f, --locustfile FILE  where standalone and --run-tasks read the declared
                         classes (default locustfile.py)
  --python PATH          the Python that reads them, with Locust (default
                         .venv/bin/python beside serverlab_locust, else python3)
  --cpuprofile FILE      write a CPU profile of the run
  --memprofile FILE      write a heap profile at exit
  -h, --help             this help
`

var errHelp = errors.New("help requested")

type config struct {
	masterHost string
	masterPort int
	host       string
	targetURL  string
	maxFDs     int
	maxRPS     int64
	close      bool
	// connectTimeout and responseTimeout apply when no master's options
	// name them (standalone, --run-tasks, a locustfile without them).
	connectTimeout  time.Duration
	responseTimeout time.Duration
	maxBody         int64
	sources         []netip.Addr // --source-addrs; none: the kernel's choice
	level           slog.Level
	runTasks        string
	standalone      bool
	users           int
	spawnRate       float64
	runTime         time.Duration
	cpuprofile      string
	memprofile      string
	// locustfile, python and classes: what standalone and --run-tasks
	// run (a master sends its own classes).
	locustfile string
	python     string
	classes    []string
}

// parseFlags reads Locust-style flags (--name value or --name=value; Go's
// single dash works too). Errors are one line.
func parseFlags(args []string) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("boomer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&cfg.masterHost, "master-host", "127.0.0.1", "")
	fs.IntVar(&cfg.masterPort, "master-port", 5557, "")
	fs.StringVar(&cfg.host, "host", "", "")
	fs.StringVar(&cfg.host, "H", "", "")
	fs.StringVar(&cfg.targetURL, "target-url", "", "")
	fs.IntVar(&cfg.maxFDs, "max-fds", 0, "")
	fs.Int64Var(&cfg.maxRPS, "max-rps", 0, "")
	fs.BoolVar(&cfg.close, "close", false, "")
	connectTimeout := fs.String("connect-timeout", "5", "")
	responseTimeout := fs.String("response-timeout", "10", "")
	maxBody := fs.String("max-body", "16M", "")
	sources := fs.String("source-addrs", "", "")
	level := fs.String("loglevel", "INFO", "")
	fs.StringVar(&cfg.runTasks, "run-tasks", "", "")
	fs.BoolVar(&cfg.standalone, "standalone", false, "")
	fs.IntVar(&cfg.users, "users", 1, "")
	fs.Float64Var(&cfg.spawnRate, "spawn-rate", 1, "")
	runTime := fs.String("run-time", "1m", "")
	fs.StringVar(&cfg.locustfile, "locustfile", "locustfile.py", "")
	fs.StringVar(&cfg.locustfile, "f", "locustfile.py", "")
	fs.StringVar(&cfg.python, "python", "", "")
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "")
	fs.StringVar(&cfg.memprofile, "memprofile", "", "")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	cfg.classes = fs.Args()
	if len(cfg.classes) > 0 && !cfg.standalone {
		return nil, fmt.Errorf("unexpected argument %q: user classes are named with --standalone; a master names its own", fs.Arg(0))
	}
	for _, c := range cfg.classes {
		if strings.HasPrefix(c, "-") {
			return nil, fmt.Errorf("flag %q after a user class name: flags come first", c)
		}
	}
	var err error
	if cfg.level, err = parseLevel(*level); err != nil {
		return nil, err
	}
	if cfg.runTime, err = parseRunTime(*runTime); err != nil {
		return nil, err
	}
	if cfg.connectTimeout, err = parseSeconds("--connect-timeout", *connectTimeout); err != nil {
		return nil, err
	}
	if cfg.responseTimeout, err = parseSeconds("--response-timeout", *responseTimeout); err != nil {
		return nil, err
	}
	if cfg.maxBody, err = parseSize("--max-body", *maxBody); err != nil {
		return nil, err
	}
	if *sources != "" {
		if cfg.sources, err = parseSources(*sources); err != nil {
			return nil, err
		}
	}
	cfg.host = strings.TrimSpace(cfg.host)
	switch {
	case cfg.masterHost == "":
		return nil, errors.New("--master-host is empty")
	case cfg.masterPort < 1 || cfg.masterPort > 65535:
		return nil, fmt.Errorf("--master-port %d: want 1..65535", cfg.masterPort)
	case cfg.maxFDs < 0:
		return nil, fmt.Errorf("--max-fds %d: want a positive number", cfg.maxFDs)
	case cfg.maxFDs > 0 && cfg.maxFDs < minFDs:
		return nil, fmt.Errorf("--max-fds %d: the worker itself needs %d", cfg.maxFDs, minFDs)
	case cfg.maxRPS < 0:
		return nil, fmt.Errorf("--max-rps %d: want 0 (unlimited) or more", cfg.maxRPS)
	case cfg.users < 1:
		return nil, fmt.Errorf("--users %d: want 1 or more", cfg.users)
	case !(cfg.spawnRate > 0) || math.IsInf(cfg.spawnRate, 0):
		return nil, fmt.Errorf("--spawn-rate %v: want a number of users a second, more than 0", cfg.spawnRate)
	case cfg.standalone && cfg.runTasks != "":
		return nil, errors.New("--standalone and --run-tasks exclude each other")
	}
	if cfg.host != "" {
		if err := checkURL(cfg.host); err != nil {
			return nil, fmt.Errorf("-H: %v", err)
		}
	}
	if cfg.targetURL != "" {
		if err := checkURL(strings.ReplaceAll(cfg.targetURL, "{model}", "epoll")); err != nil {
			return nil, fmt.Errorf("--target-url: %v", err)
		}
	}
	if (cfg.standalone || cfg.runTasks != "") && cfg.host == "" {
		return nil, errors.New("--standalone and --run-tasks need -H URL")
	}
	return cfg, nil
}

// parseSources reads --source-addrs and checks that this host has each
// address, so that a typo fails here and not in every user's dial.
func parseSources(list string) ([]netip.Addr, error) {
	addrs, err := httpuser.ParseSources(list)
	if err != nil {
		return nil, fmt.Errorf("--source-addrs: %v", err)
	}
	for _, a := range addrs {
		c, err := net.ListenPacket("udp", netip.AddrPortFrom(a, 0).String())
		if err != nil {
			return nil, fmt.Errorf("--source-addrs: %s is not an address of this host", a)
		}
		c.Close()
	}
	return addrs, nil
}

// minFDs is what the worker holds before any user connects: stdio, the
// runtime's poller, the master connection, and some slack.
const minFDs = 16

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(s) {
	case "DEBUG":
		return slog.LevelDebug, nil
	case "INFO":
		return slog.LevelInfo, nil
	case "WARNING", "WARN":
		return slog.LevelWarn, nil
	case "ERROR":
		return slog.LevelError, nil
	case "CRITICAL":
		return slog.LevelError + 4, nil
	}
	return 0, fmt.Errorf("--loglevel %q: want DEBUG, INFO, WARNING, ERROR or CRITICAL", s)
}

// parseRunTime takes Locust's forms: 20 (seconds), 30s, 5m, 1h30m.
func parseRunTime(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("--run-time %q: want more than 0", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--run-time %q: want a duration such as 30s, 5m or 1h30m", s)
	}
	return d, nil
}

// parseSeconds reads a timeout as the locustfile's options give it:
// seconds, a fraction allowed (0.5); 0 means none.
func parseSeconds(flagName, s string) (time.Duration, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) || v > maxTimeout.Seconds() {
		return 0, fmt.Errorf("%s %q: want seconds, such as 5 or 0.5 (0: no timeout)", flagName, s)
	}
	return time.Duration(v * float64(time.Second)), nil
}

// parseSize reads a byte count as curl's --max-filesize does: a number,
// optionally followed by k, M or G (powers of 1024).
func parseSize(flagName, s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > maxBodyLimit/mult {
		return 0, fmt.Errorf("%s %q: want a size such as 16M, 512k or 1048576, at most 1G", flagName, s)
	}
	return n * mult, nil
}

// maxBodyLimit bounds --max-body: a body is discarded as it streams, so
// memory does not grow with it, but a GiB a response is already far
// beyond any page a lab target serves.
const maxBodyLimit = 1 << 30

// maxTimeout keeps a timeout within what a time.Duration holds.
const maxTimeout = 24 * time.Hour

// checkURL accepts what httpuser can load: http[s]://HOST[:PORT][/path],
// with a port a connection can be made to.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return fmt.Errorf("%q: want http://HOST[:PORT] or https://HOST[:PORT]", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %s: want 1..65535", s, p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("%q: empty port", s)
	}
	return nil
}

// hostResolver picks each spawn's target: the master's host, else the
// template filled with the master's --target model, else -H.
func hostResolver(template, fallback string) func(string, map[string]any) (string, error) {
	return func(spawnHost string, parsed map[string]any) (string, error) {
		if h := strings.TrimSpace(spawnHost); h != "" {
			return h, checkURL(h)
		}
		if template != "" {
			if !strings.Contains(template, "{model}") {
				return template, nil
			}
			if model, _ := parsed["target"].(string); model != "" {
				h := strings.ReplaceAll(template, "{model}", model)
				return h, checkURL(h)
			}
		}
		if fallback != "" {
			return fallback, nil
		}
		if template != "" {
			return "", fmt.Errorf("no host: the master sent neither a host nor a target option for --target-url %s", template)
		}
		return "", errors.New("no host: start the master with -H, fill the web UI's Host field, or give the worker --target-url or -H")
	}
}
