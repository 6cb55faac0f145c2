package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"serverlab/boomer/declared"
)

// printer is the recorder of a dry run: it prints every outcome.
type printer struct {
	w        io.Writer
	failures int
}

func (p *printer) RecordSuccess(method, name string, elapsed time.Duration, n int64) {
	fmt.Fprintf(p.w, "  %s %s: ok, %d bytes in %s\n", method, name, n, elapsed.Round(time.Microsecond))
}

func (p *printer) RecordFailure(method, name string, elapsed time.Duration, err string) {
	p.failures++
	fmt.Fprintf(p.w, "  %s %s: FAILED after %s: %s\n", method, name, elapsed.Round(time.Microsecond), err)
}

// runTasks runs each task of one declared class once, as one user,
// against -H.
func runTasks(ctx context.Context, cfg *config, stdout, stderr io.Writer) int {
	spec, err := loadSpec(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "boomer: %v\n", err)
		return 1
	}
	p := &printer{w: stdout}
	opts := declared.Options{HTTP: httpOptionsFor(cfg)}
	err = spec.RunEach(ctx, cfg.runTasks, cfg.host, opts, p, func(task string) {
		fmt.Fprintf(stdout, "%s.%s\n", cfg.runTasks, task)
	})
	if err != nil {
		fmt.Fprintf(stderr, "boomer: --run-tasks %s: %v\n", cfg.runTasks, err)
		return 2
	}
	if p.failures > 0 {
		return 1
	}
	return 0
}
