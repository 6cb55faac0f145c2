package server

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// collector turns Stats and /proc into Prometheus metrics at scrape time,
// so that counting stays a plain atomic add on the request path.
type collector struct {
	stats *Stats
	procs *procReader

	mu         sync.Mutex
	cpu        float64 // the highest CPU total reported: a counter never goes back
	readErrors uint64
	lastLog    time.Time // failed readings are logged at most once a minute

	accepted, active, requests, responses, acceptErrors, shed *prometheus.Desc
	fds, maxFDs, threads, children, rss, cpuSecs, readErrs    *prometheus.Desc
}

func newCollector(s *Stats, model string, procs *procReader) *collector {
	labels := prometheus.Labels{"model": model}
	d := func(name, help string, vars ...string) *prometheus.Desc {
		return prometheus.NewDesc("serverlab_"+name, help, vars, labels)
	}
	return &collector{
		stats:        s,
		procs:        procs,
		accepted:     d("connections_accepted_total", "Connections accepted."),
		active:       d("connections_active", "Connections accepted and not yet closed."),
		requests:     d("requests_total", "Requests read, well-formed or not."),
		responses:    d("responses_total", "Responses written, by status.", "status"),
		acceptErrors: d("accept_errors_total", "Failed accept(2) calls, by errno (EMFILE: too many open files).", "errno"),
		shed:         d("connections_shed_total", "Connections accepted only to be reset at once because the descriptors ran out (--on-emfile shed)."),
		fds:          d("open_fds", "Open file descriptors of the target and its children."),
		maxFDs:       d("max_fds", "The soft RLIMIT_NOFILE: the descriptors the target (and each of its children) may hold."),
		threads:      d("os_threads", "OS threads of the target and its children."),
		children:     d("child_processes", "Child processes alive."),
		rss:          d("resident_memory_bytes", "Resident memory of the target and its children."),
		cpuSecs:      d("cpu_seconds_total", "User and system CPU time of the target and its children, reaped and alive."),
		readErrs:     d("metrics_read_errors_total", "Readings of /proc or getrusage/getrlimit that failed; the samples they were for are left out, not exported as zero."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.accepted, c.active, c.requests, c.responses, c.acceptErrors, c.shed,
		c.fds, c.maxFDs, c.threads, c.children, c.rss, c.cpuSecs, c.readErrs} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	sn := c.stats.Snapshot()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(c.accepted, float64(sn.Accepted))
	gauge(c.active, float64(sn.Accepted)-float64(sn.Closed))
	counter(c.requests, float64(sn.Requests))
	for status, n := range sn.Responses {
		label := strconv.Itoa(status)
		if status == 0 {
			label = "other"
		}
		counter(c.responses, float64(n), label)
	}
	// EMFILE is always there, at 0 until it happens, so that dashboards
	// and tests can watch for it.
	if _, ok := sn.AcceptErrors[unix.EMFILE]; !ok {
		sn.AcceptErrors[unix.EMFILE] = 0
	}
	for e, n := range sn.AcceptErrors {
		counter(c.acceptErrors, float64(n), unix.ErrnoName(e))
	}
	counter(c.shed, float64(sn.Shed))

	// A reading that fails leaves its samples out: a zero would read as
	// "no descriptors, no threads, no memory", which is false.
	c.mu.Lock()
	defer c.mu.Unlock()
	failed := func(err error) bool {
		if err != nil {
			c.readErrors++
			if now := time.Now(); now.Sub(c.lastLog) >= time.Minute {
				c.lastLog = now
				c.stats.log.Printf("metrics: %v; samples left out (serverlab_metrics_read_errors_total counts them)", err)
			}
		}
		return err != nil
	}
	pids := c.stats.childPIDs()
	gauge(c.children, float64(len(pids)))
	if max, err := softMaxFDs(); !failed(err) {
		gauge(c.maxFDs, float64(max))
	}
	// CPU first from getrusage (the target, and the children already
	// reaped), then from the live children's /proc: a child reaped in
	// between is then missing once rather than counted twice, and the
	// counter keeps its highest value, so it never goes back.
	own, cpuErr := ownCPU()
	total, err := c.procs.self()
	kids, kidsCPU, kidsErr := c.procs.children(pids)
	if !failed(err) && !failed(kidsErr) {
		total.add(kids)
		gauge(c.fds, float64(total.fds))
		gauge(c.threads, float64(total.threads))
		gauge(c.rss, float64(total.rss))
	}
	if !failed(cpuErr) && kidsErr == nil {
		c.cpu = max(c.cpu, own+kidsCPU)
		counter(c.cpuSecs, c.cpu)
	}
	counter(c.readErrs, float64(c.readErrors))
}
