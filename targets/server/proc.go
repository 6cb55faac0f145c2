package server

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// errGone is a child that exited (and was reaped) between the listing of
// the children and the read of its /proc: it holds nothing any more.
var errGone = errors.New("process gone")

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// usage is what a process holds.
type usage struct{ fds, threads, rss int64 }

func (u *usage) add(v usage) {
	u.fds += v.fds
	u.threads += v.threads
	u.rss += v.rss
}

// procReader reads the target's and its children's figures from /proc
// without needing a free descriptor: the target's own files are opened
// once and re-read in place (pread from offset 0, and getdents after a
// seek to 0, make the kernel generate them anew), and each child's are
// opened through the admin reserve.
type procReader struct {
	res *reserve

	mu     sync.Mutex // the files' offsets, buf
	status int        // /proc/PID/status of the target
	fdDir  int        // /proc/PID/fd of the target
	buf    []byte
}

func newProcReader(pid int, res *reserve) (*procReader, error) {
	r := &procReader{res: res, buf: make([]byte, 16<<10)}
	var err error
	if r.status, err = openProc(pid, "status", 0); err != nil {
		return nil, err
	}
	if r.fdDir, err = openProc(pid, "fd", unix.O_DIRECTORY); err != nil {
		unix.Close(r.status)
		return nil, err
	}
	return r, nil
}

func openProc(pid int, name string, flags int) (int, error) {
	path := fmt.Sprintf("/proc/%d/%s", pid, name)
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ENOENT || err == unix.ESRCH:
			return -1, errGone
		case err != nil:
			return -1, fmt.Errorf("open %s: %w", path, err)
		}
		return fd, nil
	}
}

// self reads the target's own figures.
func (r *procReader) self() (usage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fds, err := countDir(r.fdDir, r.buf)
	if err != nil {
		return usage{}, err
	}
	u, err := parseStatus(r.status, r.buf)
	u.fds = fds
	return u, err
}

// selfFDs is the target's own open descriptors.
func (r *procReader) selfFDs() (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return countDir(r.fdDir, r.buf)
}

// children reads the figures of the processes pids, and their CPU time in
// seconds, through the reserve. A child gone meanwhile counts as nothing;
// any other failure fails the whole reading, since a total with a child
// left out would be a wrong figure, not a missing one.
func (r *procReader) children(pids []int) (usage, float64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.lock()
	defer r.res.unlock()
	var total usage
	var cpu float64
	for _, pid := range pids {
		u, c, err := r.child(pid)
		if errors.Is(err, errGone) {
			continue
		}
		if err != nil {
			return usage{}, 0, err
		}
		total.add(u)
		cpu += c
	}
	return total, cpu, nil
}

func (r *procReader) child(pid int) (usage, float64, error) {
	var u usage
	var cpu float64
	read := func(name string, flags int, fn func(fd int) error) error {
		var fd int
		err := r.res.try(func() error {
			var err error
			fd, err = openProc(pid, name, flags)
			return err
		})
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return fn(fd)
	}
	err := read("fd", unix.O_DIRECTORY, func(fd int) (err error) {
		u.fds, err = countDir(fd, r.buf)
		return err
	})
	if err == nil {
		err = read("status", 0, func(fd int) error {
			st, err := parseStatus(fd, r.buf)
			u.threads, u.rss = st.threads, st.rss
			return err
		})
	}
	if err == nil {
		err = read("stat", 0, func(fd int) (err error) {
			cpu, err = parseStatCPU(fd, r.buf)
			return err
		})
	}
	return u, cpu, err
}

// countDir counts the entries of the directory fd, from its start.
func countDir(fd int, buf []byte) (int64, error) {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return 0, fmt.Errorf("seek /proc fd directory: %w", err)
	}
	var n int64
	var names []string
	for {
		k, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ENOENT || err == unix.ESRCH {
			return 0, errGone
		}
		if err != nil {
			return 0, fmt.Errorf("getdents /proc fd directory: %w", err)
		}
		if k <= 0 {
			return n, nil
		}
		_, _, names = unix.ParseDirent(buf[:k], -1, names[:0])
		n += int64(len(names))
	}
}

// preadAll reads the file fd from offset 0 into buf.
func preadAll(fd int, buf []byte) ([]byte, error) {
	n := 0
	for n < len(buf) {
		k, err := unix.Pread(fd, buf[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err == unix.ESRCH || err == unix.ENOENT {
			return nil, errGone
		}
		if err != nil {
			return nil, fmt.Errorf("read /proc: %w", err)
		}
		if k == 0 {
			break
		}
		n += k
	}
	return buf[:n], nil
}

// parseStatus reads Threads and VmRSS from /proc/PID/status.
func parseStatus(fd int, buf []byte) (usage, error) {
	b, err := preadAll(fd, buf)
	if err != nil {
		return usage{}, err
	}
	var u usage
	found := false
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch string(f[0]) {
		case "Threads:":
			u.threads, err = strconv.ParseInt(string(f[1]), 10, 64)
			found = err == nil
		case "VmRSS:": // absent in a zombie: nothing resident
			n, _ := strconv.ParseInt(string(f[1]), 10, 64)
			u.rss = n << 10
		}
	}
	if !found {
		return usage{}, fmt.Errorf("/proc status without Threads")
	}
	return u, nil
}

// parseStatCPU is utime+stime of /proc/PID/stat, in seconds.
func parseStatCPU(fd int, buf []byte) (float64, error) {
	b, err := preadAll(fd, buf)
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after its closing parenthesis are plain. utime and stime are
	// fields 14 and 15, so the 12th and 13th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc stat")
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc stat")
	}
	return float64(utime+stime) / clockTicks, nil
}

// ownCPU is the CPU time of the target and of its children that were
// reaped, in seconds; getrusage needs no descriptor.
func ownCPU() (float64, error) {
	var self, reaped unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &self); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	if err := unix.Getrusage(unix.RUSAGE_CHILDREN, &reaped); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	secs := func(tv unix.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
	return secs(self.Utime) + secs(self.Stime) + secs(reaped.Utime) + secs(reaped.Stime), nil
}

// softMaxFDs is the soft RLIMIT_NOFILE: the first descriptor number the
// target cannot have.
func softMaxFDs() (uint64, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	return lim.Cur, nil
}
