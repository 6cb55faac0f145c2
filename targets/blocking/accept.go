package blocking

import (
	"errors"

	"golang.org/x/sys/unix"

	"serverlab/targets/server"
)

// Accept blocks in accept(2) on env.Listener until a client connects, and
// returns the connection, close-on-exec and blocking. It is the accept step
// of every blocking model. Failures are counted and handled as the runtime
// says (Stats.AcceptFailed: a back-off, or resetting the waiting clients
// under --on-emfile shed), so that running out of descriptors does not
// turn into a busy loop. ok is false once the model should stop accepting:
// shutdown began, or the listening socket was shut down (accept fails with
// EINVAL), which is how the runtime wakes a thread blocked here.
func Accept(env *server.Env) (fd int, ok bool) {
	for {
		fd, _, err := unix.Accept4(env.Listener, unix.SOCK_CLOEXEC)
		if err == nil {
			env.Stats.AcceptOK()
			env.Stats.Accepted()
			return fd, true
		}
		if stopping(env) || errors.Is(err, unix.EINVAL) {
			return -1, false
		}
		if !env.Stats.AcceptFailed(env.Listener, err, env.Done) {
			return -1, false
		}
	}
}

func stopping(env *server.Env) bool {
	select {
	case <-env.Done:
		return true
	default:
		return false
	}
}
