package server

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"
)

// collector turns Stats and /proc into Prometheus metrics at scrape time,
// so that counting stays a plain atomic add on the request path.
type collector struct {
	stats *Stats

	accepted, active, requests, responses, acceptErrors *prometheus.Desc
	fds, threads, children, rss                         *prometheus.Desc
}

func newCollector(s *Stats, model string) *collector {
	labels := prometheus.Labels{"model": model}
	d := func(name, help string, vars ...string) *prometheus.Desc {
		return prometheus.NewDesc("serverlab_"+name, help, vars, labels)
	}
	return &collector{
		stats:        s,
		accepted:     d("connections_accepted_total", "Connections accepted."),
		active:       d("connections_active", "Connections accepted and not yet closed."),
		requests:     d("requests_total", "Requests read, well-formed or not."),
		responses:    d("responses_total", "Responses written, by status.", "status"),
		acceptErrors: d("accept_errors_total", "Failed accept(2) calls, by errno (EMFILE: too many open files).", "errno"),
		fds:          d("open_fds", "Open file descriptors of the target and its children."),
		threads:      d("os_threads", "OS threads of the target and its children."),
		children:     d("child_processes", "Child processes alive."),
		rss:          d("resident_memory_bytes", "Resident memory of the target and its children."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.accepted, c.active, c.requests, c.responses, c.acceptErrors, c.fds, c.threads, c.children, c.rss} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	sn := c.stats.Snapshot()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(c.accepted, sn.Accepted)
	gauge(c.active, float64(sn.Accepted)-float64(sn.Closed))
	counter(c.requests, sn.Requests)
	for status, n := range sn.Responses {
		label := strconv.Itoa(status)
		if status == 0 {
			label = "other"
		}
		counter(c.responses, n, label)
	}
	// EMFILE is always there, at 0 until it happens, so that dashboards
	// and tests can watch for it.
	if _, ok := sn.AcceptErrors[unix.EMFILE]; !ok {
		sn.AcceptErrors[unix.EMFILE] = 0
	}
	for e, n := range sn.AcceptErrors {
		counter(c.acceptErrors, n, unix.ErrnoName(e))
	}
	pids := append([]int{os.Getpid()}, c.stats.childPIDs()...)
	var fds, threads, rss float64
	for _, pid := range pids {
		p := procOf(pid)
		fds += float64(p.fds)
		threads += float64(p.threads)
		rss += float64(p.rss)
	}
	gauge(c.fds, fds)
	gauge(c.threads, threads)
	gauge(c.children, float64(len(pids)-1))
	gauge(c.rss, rss)
}

type procInfo struct{ fds, threads, rss int64 }

// procOf reads a process's descriptors, threads and resident memory from
// /proc. A process that just exited reads as zeros.
func procOf(pid int) procInfo {
	var p procInfo
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		p.fds = int64(len(ents))
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(string(f[1]), 10, 64)
		switch string(f[0]) {
		case "Threads:":
			p.threads = n
		case "VmRSS:":
			p.rss = n << 10
		}
	}
	return p
}

// adminHandler serves /metrics and /healthz.
func adminHandler(s *Stats, model string) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(s, model))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	return mux
}
