package boomer

import (
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
