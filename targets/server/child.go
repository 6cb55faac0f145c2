package server

import (
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// childEnv marks a process started by SpawnChild; the descriptors it gets
// are fixed: 3 is its socket, 4 the parent's counters.
const (
	childEnv     = "SERVERLAB_CHILD=1"
	childSocket  = 3
	childCounter = 4
)

// SpawnChild starts this same binary again (fork+exec) as a child of the
// model, with fd, a listening or connected socket, as the child's Listener.
// The child runs Model.Child and counts into the parent's counters. The
// caller owns the returned process: it must Wait for it, so that no zombie
// is left, and call Stats.UntrackChild then.
func (e *Env) SpawnChild(fd int) (*exec.Cmd, error) {
	// Duplicate the descriptors into Files that the exec may consume: an
	// os.File closes its descriptor when collected, and the caller keeps
	// its own.
	sock, err := dupFile(fd, "socket")
	if err != nil {
		return nil, err
	}
	defer sock.Close()
	counters, err := dupFile(e.Stats.fd, "counters")
	if err != nil {
		return nil, err
	}
	defer counters.Close()
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), childEnv)
	cmd.ExtraFiles = []*os.File{sock, counters}
	cmd.Stderr = os.Stderr
	// A child must not outlive a parent that was killed: the kernel sends
	// it SIGTERM then, and it drains like on any shutdown.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		// Out of descriptors in fork is the process model's EMFILE: the
		// parent accepts nothing until a child exits.
		if outOfFDs(err) {
			e.Stats.outOfFDs()
		}
		return nil, err
	}
	e.Stats.recovered()
	e.Stats.TrackChild(cmd.Process.Pid)
	return cmd, nil
}

func dupFile(fd int, name string) (*os.File, error) {
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("dup", err)
	}
	return os.NewFile(uintptr(d), name), nil
}

func isChild() bool { return os.Getenv("SERVERLAB_CHILD") == "1" }
