package blocking

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/targets/httpcore"
	"serverlab/targets/server"
)

// EnvMaxThreads, when set to a positive number, lowers the cap of
// ThreadCap to it: a way to meet the cap without ten thousand real
// threads.
const EnvMaxThreads = "SERVERLAB_MAX_THREADS"

// spareThreads is room left under the system's limits for the threads the
// Go runtime runs besides the connections' (one per P, sysmon, the
// accepting thread, threads in other system calls).
const spareThreads = 64

// ThreadCap bounds the threads of a thread-per-connection server. A C
// server that calls pthread_create past the system's thread limits gets
// EAGAIN and refuses that one client; the Go runtime instead ends the
// whole process ("thread exhaustion"). So the cap is taken below those
// limits (kernel.threads-max and pid_max, RLIMIT_NPROC, the cgroup's
// pids.max), the
// runtime's own limit is raised above it, and a client past the cap is
// refused the way the C server would: closed, with a 503 on its way out,
// counted and logged, while every other client is served.
type ThreadCap struct {
	env   *server.Env
	max   int
	where string // where max comes from, for the log

	mu       sync.Mutex
	n        int
	lastLog  time.Time
	unlogged int
}

// NewThreadCap derives the cap and raises the runtime's thread limit above
// it, logging both.
func NewThreadCap(env *server.Env) *ThreadCap {
	limit, where := SystemThreadLimit()
	inUse := threadsNow()
	c := &ThreadCap{env: env, max: limit - inUse - spareThreads, where: fmt.Sprintf("%s %d", where, limit)}
	if v := os.Getenv(EnvMaxThreads); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n < c.max {
			c.max, c.where = n, EnvMaxThreads+"="+v
		} else if err != nil || n <= 0 {
			env.Log.Printf("%s=%q is not a positive number: ignored", EnvMaxThreads, v)
		}
	}
	c.max = max(c.max, 1)
	need := c.max + inUse + spareThreads
	if prev := debug.SetMaxThreads(need); prev >= need {
		debug.SetMaxThreads(prev) // never lower it
		env.Log.Printf("at most %d connection threads (from %s)", c.max, c.where)
	} else {
		env.Log.Printf("at most %d connection threads (from %s); the runtime's thread limit raised to %d", c.max, c.where, need)
	}
	return c
}

// Max is the cap.
func (c *ThreadCap) Max() int { return c.max }

// Take reserves a thread for a connection; false when the cap is reached.
func (c *ThreadCap) Take() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= c.max {
		return false
	}
	c.n++
	return true
}

// Give returns a thread taken with Take.
func (c *ThreadCap) Give() {
	c.mu.Lock()
	c.n--
	c.mu.Unlock()
}

// Refuse turns away a connection for which no thread could be had: a 503
// if its socket takes it at once (a fresh socket always has the room),
// then close. The 503 is counted in the responses by status, and the
// refusals are logged at most once a second.
func (c *ThreadCap) Refuse(fd int) {
	why := fmt.Sprintf("out of threads: %d connections have one each, the cap (from %s)", c.max, c.where)
	resp := httpcore.ErrorResponse(503, why, time.Now())
	if _, err := unix.SendmsgN(fd, resp, nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL); err == nil {
		c.env.Stats.Response(503)
	}
	unix.Close(fd)
	c.env.Stats.Closed()

	c.mu.Lock()
	defer c.mu.Unlock()
	c.unlogged++
	if now := time.Now(); now.Sub(c.lastLog) >= time.Second {
		c.env.Log.Printf("refused %d connection(s) since the last report: %s", c.unlogged, why)
		c.lastLog, c.unlogged = now, 0
	}
}

// SystemThreadLimit is the lowest of the limits on this process's threads
// and where it comes from. RLIMIT_NPROC and pids.max count other
// processes' threads too, which is why the cap keeps a margin below it.
func SystemThreadLimit() (limit int, where string) {
	limit, where = math.MaxInt32, "no limit found"
	lower := func(n int, what string) {
		if n > 0 && n < limit {
			limit, where = n, what
		}
	}
	// A thread takes a PID from the system's, which kernel.pid_max
	// bounds, often far below threads-max.
	for _, k := range []string{"threads-max", "pid_max"} {
		if b, err := os.ReadFile("/proc/sys/kernel/" + k); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				lower(n, "kernel."+k)
			}
		}
	}
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NPROC, &rl) == nil && rl.Cur < math.MaxInt32 {
		lower(int(rl.Cur), "RLIMIT_NPROC")
	}
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		if n, ok := PidsMax("/sys/fs/cgroup", b); ok {
			lower(n, "the cgroup's pids.max")
		}
	}
	return limit, where
}

// PidsMax is the lowest pids.max on the way from this process's cgroup
// (as /proc/self/cgroup, given as cgroups, names it) up to the root of the
// hierarchy mounted at root, cgroup v2 or v1's pids controller; false if
// none is set.
func PidsMax(root string, cgroups []byte) (int, bool) {
	dir := ""
	sc := bufio.NewScanner(bytes.NewReader(cgroups))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			if dir == "" {
				dir = filepath.Join(root, f[2])
			}
		case f[1] == "pids":
			dir = filepath.Join(root, "pids", f[2]) // v1 wins: v2 then has no pids controller
		}
	}
	if dir == "" {
		return 0, false
	}
	best, found := math.MaxInt32, false
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "pids.max")); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n < best {
				best, found = n, true
			}
		}
		if dir == root || len(dir) <= len(root) {
			return best, found
		}
		dir = filepath.Dir(dir)
	}
}

// threadsNow is this process's thread count from /proc/self/status.
func threadsNow() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
