package runner

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Limits are what bounds one machine's connections: every user holds a
// connection, which costs a descriptor in its worker and one in the
// target, and a local port.
type Limits struct {
	// NoFile is a process's open-files hard limit (RLIMIT_NOFILE), the
	// most descriptors a target or worker can be given without
	// CAP_SYS_RESOURCE.
	NoFile int
	// Ports is how many connections one source address can hold to one
	// target port: the ephemeral range, net.ipv4.ip_local_port_range.
	Ports int
}

// ReadLimits reads this machine's limits; what cannot be read is taken
// as Linux's defaults.
func ReadLimits() Limits {
	l := Limits{NoFile: 1024, Ports: 28232}
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		l.NoFile = int(min(rl.Max, 1<<30))
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && hi >= lo {
				l.Ports = hi - lo + 1
			}
		}
	}
	return l
}

// What a worker and a target hold besides their users' connections: a
// worker its stdio, poller and master connection (bin/boomer's own
// reckoning); a target its listeners, poller, logs, admin clients and the
// /proc files it reads.
const (
	workerHeadroom = 16
	targetHeadroom = 100
)

// peakUsers is the most users a run asks for at once.
func (c *Config) peakUsers() int {
	peak := c.Users
	if len(c.Sweep) > 0 {
		peak = 0
		for _, u := range c.Sweep {
			peak = max(peak, u)
		}
	}
	return peak
}

// workerRoom is how many users one worker can hold a connection for.
func (c *Config) workerRoom(l Limits) int {
	fds := l.NoFile
	if c.MaxFDs > 0 {
		fds = min(fds, c.MaxFDs)
	}
	return fds - workerHeadroom
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// CheckLimits refuses, before anything starts, a run whose load
// generators cannot hold its users: more users per worker than a
// worker's descriptors, or more connections than the workers' source
// addresses have ports for (Python workers dial from one address). What
// the target runs out of is no error: that is the experiment.
func (c *Config) CheckLimits(l Limits) error {
	if c.MaxFDs > l.NoFile {
		return fmt.Errorf("--max-fds %d is above the open-files hard limit %d", c.MaxFDs, l.NoFile)
	}
	peak := c.peakUsers()
	room := c.workerRoom(l)
	if room < 1 {
		return fmt.Errorf("--max-fds %d leaves a worker no descriptor for a user", c.MaxFDs)
	}
	if per := ceilDiv(peak, c.Workers); per > room {
		return fmt.Errorf("%d users on %d worker(s) is %d a worker, but a worker holds a connection per user and its open-files limit %d leaves room for %d: use --workers %d or more",
			peak, c.Workers, per, room+workerHeadroom, room, ceilDiv(peak, room))
	}
	if peak > l.Ports && c.Generator != "" && c.Generator != "go" {
		return fmt.Errorf("%d users need a connection each to one target port, and one source address has %d ephemeral ports (net.ipv4.ip_local_port_range): Python workers dial from one address; use the Go workers, which spread over several",
			peak, l.Ports)
	}
	if n := c.SourcesFor(l); n > 256 {
		return fmt.Errorf("%d users need %d loopback source addresses of %d ports each: more than the 256 this lab spreads over", peak, n, l.Ports)
	}
	return nil
}

// sourcesFor is how many loopback source addresses the Go workers dial
// from so that every user's connection gets a port.
func (c *Config) SourcesFor(l Limits) int {
	return max(1, ceilDiv(c.peakUsers(), max(l.Ports, 1)))
}

// sourceList is the Go workers' --source-addrs for n addresses:
// 127.0.0.1 onwards, every one of them loopback.
func sourceList(n int) string {
	last := 0x7f000001 + uint32(n-1)
	return fmt.Sprintf("127.0.0.1-127.%d.%d.%d", last>>16&0xff, last>>8&0xff, last&0xff)
}

// C10K plans the c10k preset on this machine: LabUsers stepped up to as
// many connections as a target can hold at its open-files hard limit
// (which the target is given), as many workers as that takes, and the
// steps on the way.
func C10K(l Limits) (steps []int, workers, maxFDs int) {
	top := (l.NoFile - targetHeadroom) / 500 * 500
	if top < 1000 {
		top = max(l.NoFile-targetHeadroom, 1)
	}
	for _, u := range []int{1000, 2500, 5000, 10000, 15000, 20000, 30000, 50000, 100000, 200000, 500000} {
		if u < top {
			steps = append(steps, u)
		}
	}
	steps = append(steps, top)
	return steps, ceilDiv(top, l.NoFile-workerHeadroom), l.NoFile
}
