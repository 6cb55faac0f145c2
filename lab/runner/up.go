package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"serverlab/internal/launch"
)

// UpConfig is a whole stack on one machine, for the web UI: every target
// at once, each on its own loopback ports, a Locust master with its web
// UI whose Target choice leads to the right ones, and Go workers.
type UpConfig struct {
	Models []string // the targets to start
	// All is every model bin/target lists: a model's place in it fixes its
	// ports, so that they do not move when fewer are started.
	All        []string
	Workers    int    // bin/boomer processes
	PortBase   int    // model i: site on PortBase+i, admin on PortBase+AdminOffset+i; 0: free ports
	WebHost    string // the web UI's bind address
	WebPort    int    // 0: a free port
	MasterPort int    // the master's port for workers; 0: a free port
	Target     string // the target the web UI's form starts with
	// What every target gets: bin/target's --max-fds, --workers and
	// --on-emfile (0 or "": its own default), then TargetArgs as given.
	MaxFDs     int
	Pool       int
	OnEMFILE   string
	TargetArgs []string
	CPUs       CPUSplit
	BinDir     string // holds target and boomer
	Repo       string // the checkout: locustfile.py, requirements.txt, .venv
	Logs       string // every process's log
	Locust     string // as Config.Locust
}

// AdminOffset separates a model's admin port from its site port when
// ports are given from a base.
const AdminOffset = 100

// upReady bounds how long the master may take to serve its web UI and
// the workers to join it.
const upReady = 60 * time.Second

// Ports are a model's site and admin ports from a base (0, 0 without one).
func (c *UpConfig) Ports(model string) (site, admin int) {
	if c.PortBase == 0 {
		return 0, 0
	}
	i := slices.Index(c.All, model)
	return c.PortBase + i, c.PortBase + AdminOffset + i
}

// Validate reports the first setting no stack could start with.
func (c *UpConfig) Validate() error {
	switch {
	case len(c.Models) == 0:
		return errors.New("no models to start")
	case c.Workers < 0 || c.Workers > 64:
		return fmt.Errorf("--workers %d: want 0..64", c.Workers)
	case c.PortBase < 0 || (c.PortBase > 0 && c.PortBase+AdminOffset+len(c.All) > 65536):
		return fmt.Errorf("--port-base %d: want 0 (free ports) or 1..%d", c.PortBase, 65536-AdminOffset-len(c.All))
	case c.PortBase > 0 && len(c.All) > AdminOffset:
		return fmt.Errorf("%d models: more than %d ports from a base", len(c.All), AdminOffset)
	case c.WebPort < 0 || c.WebPort > 65535:
		return fmt.Errorf("--web-port %d: want 0 (a free port) or 1..65535", c.WebPort)
	case c.MasterPort < 0 || c.MasterPort > 65535:
		return fmt.Errorf("--master-port %d: want 0 (a free port) or 1..65535", c.MasterPort)
	case c.PortBase > 0 && c.WebPort > 0 && c.WebPort == c.MasterPort:
		return fmt.Errorf("--web-port and --master-port are both %d", c.WebPort)
	case net.ParseIP(c.WebHost) == nil:
		return fmt.Errorf("--web-host %q: want an IP address, e.g. 127.0.0.1 or 0.0.0.0", c.WebHost)
	case c.MaxFDs < 0:
		return fmt.Errorf("--max-fds %d: want 0 (inherit) or more", c.MaxFDs)
	case c.Pool < 0:
		return fmt.Errorf("--pool %d: want 0 (the model's default) or more", c.Pool)
	case c.OnEMFILE != "" && !slices.Contains(EMFILEModes, c.OnEMFILE):
		return fmt.Errorf("--on-emfile %q: want %s", c.OnEMFILE, strings.Join(EMFILEModes, " or "))
	case !slices.Contains(c.Models, c.Target):
		return fmt.Errorf("--target %q is not among the models started (%s)", c.Target, strings.Join(c.Models, ","))
	}
	seen := map[string]bool{}
	for _, m := range c.Models {
		if !slices.Contains(c.All, m) {
			return fmt.Errorf("--models: unknown model %q (models: %s)", m, strings.Join(c.All, ","))
		}
		if seen[m] {
			return fmt.Errorf("--models: %q twice", m)
		}
		seen[m] = true
	}
	if c.PortBase > 0 {
		for _, p := range []int{c.WebPort, c.MasterPort} {
			if p >= c.PortBase && p < c.PortBase+AdminOffset+len(c.All) {
				if i := (p - c.PortBase) % AdminOffset; i < len(c.All) {
					return fmt.Errorf("port %d is %s's, from --port-base %d: choose another", p, c.All[i], c.PortBase)
				}
			}
		}
	}
	return nil
}

// portsFree checks, before anything starts, that the ports given are not
// taken: one clear line now rather than a master's traceback later.
func (c *UpConfig) portsFree() error {
	type want struct {
		flag, host string
		port       int
	}
	ws := []want{{"--web-port", c.WebHost, c.WebPort}, {"--master-port", "127.0.0.1", c.MasterPort}}
	for _, m := range c.Models {
		site, admin := c.Ports(m)
		ws = append(ws, want{"--port-base (" + m + ")", "127.0.0.1", site}, want{"--port-base (" + m + " admin)", "127.0.0.1", admin})
	}
	for _, w := range ws {
		if w.port == 0 {
			continue
		}
		addr := net.JoinHostPort(w.host, strconv.Itoa(w.port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s: %s is taken (%w); choose another, or 0 for a free one", w.flag, addr, err)
		}
		l.Close()
	}
	return nil
}

// Endpoint is where one started target serves.
type Endpoint struct {
	Model       string
	Site, Admin string // base URLs
	PID         int
}

// Stack is what Up started, once it all answers.
type Stack struct {
	WebURL     string // the web UI, as a browser on this machine opens it
	MasterPort int
	Targets    []Endpoint
	Workers    int
	Locust     Choice
	Logs       string
}

// Up starts the stack, prints where everything is, and keeps it running
// until ctx ends (Ctrl-C) or the master exits; then it stops every process
// it started, their children too, before it returns. A target or worker
// that exits on its own is reported and the rest stays up. ready, if not
// nil, is called once everything answers.
func Up(ctx context.Context, cfg UpConfig, out io.Writer, ready func(*Stack)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	for _, b := range []string{"target", "boomer"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, b)); err != nil {
			return fmt.Errorf("%s not found: build it (make build) or pass --bin DIR: %w", filepath.Join(cfg.BinDir, b), err)
		}
	}
	if cfg.OnEMFILE != "" {
		target := filepath.Join(cfg.BinDir, "target")
		help, _ := exec.Command(target, "--help").CombinedOutput()
		if !slices.Contains(strings.Fields(string(help)), "--on-emfile") {
			return fmt.Errorf("--on-emfile: %s has no such flag (make build)", target)
		}
	}
	locustfile := filepath.Join(cfg.Repo, "locustfile.py")
	if _, err := os.Stat(locustfile); err != nil {
		return fmt.Errorf("locustfile: %w", err)
	}
	if err := cfg.portsFree(); err != nil {
		return err
	}
	loc, err := ChooseLocust(cfg.Repo, cfg.Locust, out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Logs, 0o755); err != nil {
		return err
	}
	u := &up{cfg: cfg, out: out, locustfile: locustfile,
		stack: &Stack{Locust: loc, Workers: cfg.Workers, Logs: cfg.Logs}}
	defer u.stopAll()
	fmt.Fprintf(out, "lab up: Locust %s: %s (%s)\n", loc.Version, loc.Path, loc.describe())
	if err := u.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	u.print()
	if ready != nil {
		ready(u.stack)
	}
	err = u.wait(ctx)
	fmt.Fprintln(out, "lab up: stopping")
	u.stopAll()
	if err == nil {
		fmt.Fprintln(out, "lab up: stopped; every process it started has ended")
	}
	return err
}

type up struct {
	cfg        UpConfig
	out        io.Writer
	locustfile string
	stack      *Stack
	master     *proc
	workers    []*proc
	targets    []*proc // as stack.Targets
}

func (u *up) start(ctx context.Context) error {
	for _, m := range u.cfg.Models {
		if err := u.startTarget(ctx, m); err != nil {
			return err
		}
	}
	if err := u.startMaster(ctx); err != nil {
		return err
	}
	for w := 1; w <= u.cfg.Workers; w++ {
		cmd := exec.Command(filepath.Join(u.cfg.BinDir, "boomer"), workerArgs(&Config{}, u.stack.MasterPort)...)
		p, err := start(fmt.Sprintf("boomer %d", w), cmd, filepath.Join(u.cfg.Logs, fmt.Sprintf("boomer-%d.log", w)), nil, &u.cfg.CPUs.Load)
		if err != nil {
			return err
		}
		u.workers = append(u.workers, p)
	}
	return u.waitWorkers(ctx)
}

// upTargetArgs are one target's flags in a stack.
func upTargetArgs(cfg *UpConfig, model string) []string {
	site, admin := cfg.Ports(model)
	args := []string{"--model", model,
		"--addr", "127.0.0.1:" + strconv.Itoa(site), "--admin-addr", "127.0.0.1:" + strconv.Itoa(admin),
		"--docroot", filepath.Join(cfg.Repo, "targets", "www")}
	if cfg.MaxFDs > 0 {
		args = append(args, "--max-fds", strconv.Itoa(cfg.MaxFDs))
	}
	if cfg.Pool > 0 {
		args = append(args, "--workers", strconv.Itoa(cfg.Pool))
	}
	if cfg.OnEMFILE != "" {
		args = append(args, "--on-emfile", cfg.OnEMFILE)
	}
	return append(args, cfg.TargetArgs...)
}

func (u *up) startTarget(ctx context.Context, model string) error {
	logPath := filepath.Join(u.cfg.Logs, "target-"+model+".log")
	cmd := exec.Command(filepath.Join(u.cfg.BinDir, "target"), upTargetArgs(&u.cfg, model)...)
	cmd.Dir = u.cfg.Repo
	p, err := start("target "+model, cmd, logPath, nil, &u.cfg.CPUs.Target)
	if err != nil {
		return err
	}
	u.targets = append(u.targets, p)
	addr, admin, err := waitReady(ctx, p, logPath)
	if err != nil {
		return fmt.Errorf("target %s: %w", model, err)
	}
	if admin == "" {
		return fmt.Errorf("target %s printed no admin address: %s", model, lastWords(logPath))
	}
	u.stack.Targets = append(u.stack.Targets, Endpoint{Model: model, Site: "http://" + addr, Admin: "http://" + admin, PID: p.cmd.Process.Pid})
	return nil
}

// masterUpArgs are the web UI master's arguments: the class picker, so the
// form offers the user classes; the targets' URLs by model, so the Target
// choice reaches the right port, for the workers and the Target tab alike.
func masterUpArgs(cfg *UpConfig, locustfile string, masterPort, webPort int, targets []Endpoint) []string {
	var sites, admins []string
	for _, t := range targets {
		sites = append(sites, t.Model+"="+t.Site)
		admins = append(admins, t.Model+"="+t.Admin)
	}
	return []string{"-f", locustfile, "--master",
		"--master-bind-host", "127.0.0.1", "--master-bind-port", strconv.Itoa(masterPort),
		"--web-host", cfg.WebHost, "--web-port", strconv.Itoa(webPort),
		"--class-picker", "--target", cfg.Target,
		"--target-hosts", strings.Join(sites, ","),
		"--target-admin-url", strings.Join(admins, ","),
	}
}

func (u *up) startMaster(ctx context.Context) error {
	mport, wport := u.cfg.MasterPort, u.cfg.WebPort
	var err error
	if mport == 0 {
		if mport, err = freePort(); err != nil {
			return err
		}
	}
	if wport == 0 {
		for wport == 0 || wport == mport {
			if wport, err = freePort(); err != nil {
				return err
			}
		}
	}
	u.stack.MasterPort = mport
	logPath := filepath.Join(u.cfg.Logs, "locust.log")
	cmd := exec.Command(u.stack.Locust.Path, masterUpArgs(&u.cfg, u.locustfile, mport, wport, u.stack.Targets)...)
	cmd.Dir = u.cfg.Repo
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	p, err := start("locust master", cmd, logPath, nil, &u.cfg.CPUs.Load)
	if err != nil {
		return err
	}
	u.master = p
	host := u.cfg.WebHost
	if ip := net.ParseIP(host); ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.To4() == nil {
			host = "::1"
		}
	}
	u.stack.WebURL = "http://" + net.JoinHostPort(host, strconv.Itoa(wport))
	return u.masterErr(p.lp.Await(ctx, upReady, launch.Answers(u.stack.WebURL+"/")), logPath)
}

// masterErr says why the master is not ready: it exited, it did not
// answer in time, or ctx ended.
func (u *up) masterErr(err error, logPath string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, launch.ErrExited):
		u.master.waitOutput(2 * time.Second)
		return fmt.Errorf("the Locust master exited (%s): %s", u.master.describe(), errorWords(logPath))
	case errors.Is(err, launch.ErrTimeout):
		return fmt.Errorf("the Locust master: %w: %s", err, lastWords(logPath))
	}
	return ErrInterrupted
}

// waitWorkers waits until the master's log counts every worker; a worker
// that exits first is an error at once.
func (u *up) waitWorkers(ctx context.Context) error {
	if u.cfg.Workers == 0 {
		return nil
	}
	logPath := filepath.Join(u.cfg.Logs, "locust.log")
	deadline := time.Now().Add(upReady)
	for {
		err := u.master.lp.Await(ctx, time.Second, launch.WorkersConnected(u.cfg.Workers))
		if !errors.Is(err, launch.ErrTimeout) {
			return u.masterErr(err, logPath)
		}
		for i, w := range u.workers {
			if w.exited() {
				w.waitOutput(2 * time.Second)
				return fmt.Errorf("worker %d exited (%s): %s", i+1, w.describe(), lastWords(filepath.Join(u.cfg.Logs, fmt.Sprintf("boomer-%d.log", i+1))))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Locust master's log counts fewer than %d workers after %s: %s", u.cfg.Workers, upReady, lastWords(logPath))
		}
	}
}

var exceptionRE = regexp.MustCompile(`^[A-Za-z_.]*(Error|Exception): `)

// errorWords is the last error a Python log states (the line of a
// traceback that names the exception, or argparse's "error:"), which a
// master's last line seldom is; else its last words.
func errorWords(logPath string) string {
	last := ""
	for _, l := range strings.Split(tail(logPath, 200), "\n") {
		l = strings.TrimSpace(l)
		if strings.Contains(l, "error: ") || exceptionRE.MatchString(l) {
			last = l
		}
	}
	if last == "" {
		return lastWords(logPath)
	}
	return last + " (see " + logPath + ")"
}

// WorkerCount is how many workers the master behind a web UI counts.
func WorkerCount(webURL string) (int, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(webURL + "/stats/requests")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s/stats/requests: HTTP %d", webURL, resp.StatusCode)
	}
	var s struct {
		Workers []json.RawMessage `json:"workers"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&s); err != nil {
		return 0, fmt.Errorf("%s/stats/requests: %w", webURL, err)
	}
	return len(s.Workers), nil
}

// print says where everything is.
func (u *up) print() {
	s := u.stack
	fmt.Fprintf(u.out, "lab up: web UI on %s (bound to %s), master on 127.0.0.1:%d, %d Go worker(s)\n\n",
		s.WebURL, u.cfg.WebHost, s.MasterPort, s.Workers)
	tw := tabwriter.NewWriter(u.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tSITE\tADMIN (/metrics)\tPID")
	for _, t := range s.Targets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", t.Model, t.Site, t.Admin, t.PID)
	}
	tw.Flush()
	fmt.Fprintf(u.out, "\nOpen %s, pick a user class and a target, start. Logs in %s. Ctrl-C stops everything.\n", s.WebURL, s.Logs)
}

// wait keeps the stack up until ctx ends or the master exits; a target
// or a worker that exits is said once.
func (u *up) wait(ctx context.Context) error {
	type gone struct {
		name, log string
		p         *proc
	}
	exits := make(chan gone, len(u.targets)+len(u.workers))
	for i, p := range u.targets {
		g := gone{"target " + u.stack.Targets[i].Model, filepath.Join(u.cfg.Logs, "target-"+u.stack.Targets[i].Model+".log"), p}
		go func() { <-p.done; exits <- g }()
	}
	for i, p := range u.workers {
		g := gone{fmt.Sprintf("worker %d", i+1), filepath.Join(u.cfg.Logs, fmt.Sprintf("boomer-%d.log", i+1)), p}
		go func() { <-p.done; exits <- g }()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-u.master.done:
			u.master.waitOutput(2 * time.Second)
			return fmt.Errorf("the Locust master exited (%s): %s", u.master.describe(), errorWords(filepath.Join(u.cfg.Logs, "locust.log")))
		case g := <-exits:
			g.p.waitOutput(2 * time.Second)
			fmt.Fprintf(u.out, "lab up: %s exited (%s): %s\n", g.name, g.p.describe(), lastWords(g.log))
		}
	}
}

// stopAll stops the master first (it tells its workers to quit), then the
// workers, then the targets, each with its process group; it returns once
// every one has been reaped.
func (u *up) stopAll() {
	stop := func(ps []*proc) {
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Add(1)
			go func() { defer wg.Done(); p.stop(stopGrace) }()
		}
		wg.Wait()
	}
	if u.master != nil {
		stop([]*proc{u.master})
	}
	stop(u.workers)
	stop(u.targets)
	u.master, u.workers, u.targets = nil, nil, nil
}
