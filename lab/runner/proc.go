package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/internal/launch"
)

// proc is one started process, the leader of its own session and so of its
// own process group: stopping the group also stops whatever it forked
// (prefork children, Locust's greenlets' helpers), and the scheduler
// weighs the session apart from the others (see start).
type proc struct {
	name string
	cmd  *exec.Cmd
	lp   *launch.Process
	done <-chan struct{} // closed when Wait returned
}

// lineFunc sees every line a process writes, as it comes.
type lineFunc func(line string)

// start runs cmd through the launcher with stdout and stderr, in one pipe
// so that the log keeps their order (Locust prints its console table on
// stderr), appended to logPath; onLine, if not nil, also sees them line by
// line. cpus, if not empty, is the CPU set of the process and everything
// it starts.
func start(name string, cmd *exec.Cmd, logPath string, onLine lineFunc, cpus *unix.CPUSet) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// Its own session, and with it its own group, so that one kill reaches
	// its children; and SIGTERM if the lab dies without cleaning up. The
	// session matters to the scheduler too: with autogroup (kernel.
	// sched_autogroup_enabled, on by default) CFS shares the CPU between
	// sessions first, and splits a session's share over the CPUs by the
	// load it has on each. In one session with the load generators, a
	// thread-per-connection target's thousands of runnable threads on its
	// CPU drew nearly all of that share there, leaving the Locust master
	// and the workers on theirs a sliver against any other session's work:
	// they got no CPU for seconds, and the master, hearing no heartbeat,
	// gave the worker up. A session each keeps every process's share its
	// own, whatever the others run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGTERM}
	lp, err := launch.Run(cmd, launch.Options{Log: logf, Line: onLine,
		Start: func(c *exec.Cmd) error { return startPinned(c, cpus) }})
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		// A child it left may hold the output open after it exited; the
		// group's kill in stop ends that.
		<-lp.OutputDone()
		logf.Close()
	}()
	return &proc{name: name, cmd: cmd, lp: lp, done: lp.Exited()}, nil
}

// startPinned starts cmd with the CPU affinity cpus. A forked child inherits
// the affinity of the thread that forked it, so the fork happens on a locked
// thread that holds the set for the moment of Start: every thread and child
// the process ever makes is then bound from its first instruction on.
func startPinned(cmd *exec.Cmd, cpus *unix.CPUSet) error {
	if cpus == nil || cpus.Count() == 0 {
		return cmd.Start()
	}
	res := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var old unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			runtime.UnlockOSThread()
			res <- fmt.Errorf("sched_getaffinity: %w", err)
			return
		}
		if err := unix.SchedSetaffinity(0, cpus); err != nil {
			runtime.UnlockOSThread()
			res <- fmt.Errorf("pin to CPUs %s: %w", cpuList(cpus), err)
			return
		}
		err := cmd.Start()
		if rerr := unix.SchedSetaffinity(0, &old); rerr != nil {
			// The thread keeps the narrowed set: leaving the goroutine
			// while locked ends the thread instead of pooling it.
			if err == nil {
				err = fmt.Errorf("restoring CPU affinity: %w", rerr)
				cmd.Process.Kill()
				cmd.Wait()
			}
			res <- err
			return
		}
		runtime.UnlockOSThread()
		res <- err
	}()
	if err := <-res; err != nil {
		return err
	}
	// Threads the child made between fork and now inherited the set already;
	// setting it on each again checks that it took.
	return pinAll(cmd.Process.Pid, cpus)
}

// pinAll sets the affinity of every thread of pid.
func pinAll(pid int, cpus *unix.CPUSet) error {
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return nil // already gone: Wait will say why
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, cpus); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pin pid %d to CPUs %s: %w", pid, cpuList(cpus), err)
		}
	}
	return nil
}

// exited says whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the process's exit status, -1 if a signal ended it or it runs.
func (p *proc) exitCode() int {
	if !p.exited() || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// signal sends sig to the process's whole group.
func (p *proc) signal(sig syscall.Signal) {
	syscall.Kill(-p.cmd.Process.Pid, sig)
}

// stop asks the group to end (SIGTERM), waits up to grace, then kills the
// group. It returns once the leader has been reaped and its output copied.
func (p *proc) stop(grace time.Duration) {
	if !p.exited() {
		p.signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	// Whatever the leader left behind in its group goes too.
	p.signal(syscall.SIGKILL)
	<-p.done
	p.waitOutput(2 * time.Second)
}

// waitOutput waits for the output's copy to end; a grandchild that kept
// the pipe open is not waited for longer than d.
func (p *proc) waitOutput(d time.Duration) { p.lp.OutputEnded(d) }

// describe is how the process ended, for errors.
func (p *proc) describe() string {
	if !p.exited() {
		return "running"
	}
	if p.lp.Err() == nil {
		return "exit 0"
	}
	return p.lp.Err().Error()
}

// tail is the end of a log file, for error messages.
func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
