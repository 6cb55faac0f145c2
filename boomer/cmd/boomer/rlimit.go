package main

import (
	"fmt"
	"log/slog"

	"golang.org/x/sys/unix"
)

// setFDLimit sets the soft open-files limit: to the hard limit, so that
// every user can hold a connection, or down to max (--max-fds) to show what
// a worker out of descriptors reports: OSError(24, 'Too many open files').
func setFDLimit(max int, log *slog.Logger) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("open-files limit: %v", err)
	}
	was := lim.Cur
	switch {
	case max == 0:
		lim.Cur = lim.Max
	case uint64(max) > lim.Max:
		return fmt.Errorf("--max-fds %d is above the hard open-files limit %d", max, lim.Max)
	default:
		lim.Cur = uint64(max)
	}
	if lim.Cur != was {
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("open-files limit %d: %v", lim.Cur, err)
		}
	}
	log.Info("open-files limit", "soft", lim.Cur, "hard", lim.Max, "was", was)
	return nil
}
