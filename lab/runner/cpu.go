package runner

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"serverlab/lab/meta"
)

// userHZ is the unit of the times in /proc/PID/stat: USER_HZ, 100 on every
// Linux architecture Go runs on.
const userHZ = 100

// treeCPU is the CPU time, in seconds, that process pid and every process
// below it have used so far: their own user and system time, and that of
// the children they have already reaped. A process model's children are
// thus counted whether they are still serving or long gone. Locust sees
// none of this, and it is what separates models that all keep up.
func treeCPU(pid int) (float64, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	type proc struct {
		ppid  int
		ticks int64
	}
	procs := map[int]proc{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, ticks, err := readStat(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone since the listing
		}
		procs[p] = proc{ppid, ticks}
	}
	if _, ok := procs[pid]; !ok {
		return 0, fmt.Errorf("process %d is not running", pid)
	}
	// Walk down from pid: a process belongs to the tree when its parent does.
	in := map[int]bool{pid: true}
	for grew := true; grew; {
		grew = false
		for p, st := range procs {
			if !in[p] && in[st.ppid] {
				in[p], grew = true, true
			}
		}
	}
	var ticks int64
	for p := range in {
		ticks += procs[p].ticks
	}
	return float64(ticks) / userHZ, nil
}

// readStat returns the parent pid and utime+stime+cutime+cstime of one
// /proc/PID/stat. The command name, field 2, is in parentheses and may hold
// spaces or parentheses itself, so fields are counted after its last ')'.
func readStat(path string) (ppid int, ticks int64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("%s: no command name", path)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("%s: %d fields", path, len(f)+2)
	}
	ppid, err = strconv.Atoi(string(f[1]))
	if err != nil {
		return 0, 0, fmt.Errorf("%s: ppid: %w", path, err)
	}
	for _, s := range f[11:15] {
		v, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: times: %w", path, err)
		}
		ticks += v
	}
	return ppid, ticks, nil
}

// cpuClock measures a target's CPU time over an interval that may be
// restarted (when the first requests are seen).
type cpuClock struct {
	from time.Time
	base float64
	err  error
}

func (c *cpuClock) start(pid int) {
	if v, err := treeCPU(pid); err == nil {
		c.from, c.base, c.err = time.Now(), v, nil
	} else if c.from.IsZero() {
		c.from, c.err = time.Now(), err
	}
}

// stop is the CPU used since start, or nil if either end was unreadable.
func (c *cpuClock) stop(pid int) *meta.CPUUse {
	v, err := treeCPU(pid)
	if err != nil || c.err != nil || c.from.IsZero() {
		return nil
	}
	return &meta.CPUUse{Seconds: round3(v - c.base), Over: round3(time.Since(c.from).Seconds())}
}

// round3 keeps meta.json's seconds readable: milliseconds are plenty.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// runQueueWait is how long, in seconds, process pid's threads have waited
// in the kernel's run queue so far (the second field of each thread's
// /proc/PID/task/TID/schedstat, in nanoseconds): time it was ready to run
// and did not get a CPU. Beside its CPU time it tells a generator starved
// by other processes from an idle one; both use little CPU.
func runQueueWait(pid int) (float64, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var ns float64
	read := 0
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended since the listing
		}
		f := bytes.Fields(b)
		if len(f) < 2 {
			return 0, fmt.Errorf("%s/%s/schedstat: %q", dir, e.Name(), b)
		}
		v, err := strconv.ParseFloat(string(f[1]), 64)
		if err != nil {
			return 0, fmt.Errorf("%s/%s/schedstat: %q", dir, e.Name(), b)
		}
		ns += v
		read++
	}
	if read == 0 {
		return 0, fmt.Errorf("process %d: no thread's schedstat", pid)
	}
	return ns / 1e9, nil
}
