package boomer

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procUsage measures this process's CPU use between calls, in percent of
// one core (as psutil's cpu_percent, which Python workers report).
type procUsage struct {
	mu       sync.Mutex
	lastWall time.Time
	lastCPU  time.Duration
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPercent returns the CPU use since the previous call (0 the first time).
func (p *procUsage) cpuPercent() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	now, cpu := time.Now(), cpuTime()
	var pct float64
	if !p.lastWall.IsZero() {
		if wall := now.Sub(p.lastWall); wall > 0 {
			pct = 100 * float64(cpu-p.lastCPU) / float64(wall)
		}
	}
	p.lastWall, p.lastCPU = now, cpu
	return pct
}

// runWait is how long this process's threads have been ready to run and
// waited for a CPU (the second field of each /proc/self/task/TID/schedstat,
// in nanoseconds, summed); ok is false where the kernel keeps no such
// count. A thread that ended takes its share with it, so the sum may
// fall; callers take only its rises.
func runWait() (wait time.Duration, ok bool) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, false
	}
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended since the listing
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		wait += time.Duration(ns)
		ok = true
	}
	return wait, ok
}

// residentBytes reads this process's resident set size from
// /proc/self/statm (its second field, in pages); 0 if unavailable.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// fdHeadroom is what the worker holds besides its users' connections:
// stdio, the runtime's poller, the master connection, and some slack.
const fdHeadroom = 16

// warnDescriptors logs, before users start, when they cannot all hold a
// connection under the open-files limit, or reach one target with the
// ephemeral ports of their source addresses (Options.Ports): the ones past
// it fail with "Too many open files" or "Cannot assign requested address"
// in the worker, which is then what the run measures. It reports whether
// it warned.
func (b *Boomer) warnDescriptors(users int64) bool {
	warned := false
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		if room := int64(lim.Cur) - fdHeadroom; users > room {
			b.log.Warn(fmt.Sprintf("%d users need a connection each, the open-files limit %d leaves room for %d: the rest fail with Too many open files in this worker",
				users, lim.Cur, max(room, 0)), "users", users, "open_files_limit", lim.Cur)
			warned = true
		}
	}
	if ports := int64(b.opts.Ports); ports > 0 && users > ports {
		b.log.Warn(fmt.Sprintf("%d users need a connection each to one target, their source addresses have %d ephemeral ports for it: the rest fail with Cannot assign requested address; more source addresses (bin/boomer --source-addrs) give more",
			users, ports), "users", users, "ports", ports)
		warned = true
	}
	return warned
}
