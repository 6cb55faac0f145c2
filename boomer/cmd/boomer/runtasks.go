package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"serverlab/boomer"
	"serverlab/boomer/httpuser"
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

// runTasks runs each task of one class once, as one user, against -H.
func runTasks(ctx context.Context, cfg *config, stdout, stderr io.Writer) int {
	p := &printer{w: stdout}
	classes := userClasses(httpOptionsFor(cfg), func(*boomer.User) httpuser.Recorder { return p })
	class := findClass(classes, cfg.runTasks)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	u := &boomer.User{Class: class.Name, ID: 1, Host: cfg.host, Ctx: ctx}
	if err := class.OnStart(u); err != nil {
		fmt.Fprintf(stderr, "boomer: %s: %v\n", class.Name, err)
		return 1
	}
	for _, t := range class.Tasks {
		fmt.Fprintf(stdout, "%s.%s\n", class.Name, t.Name)
		t.Fn(u)
	}
	class.OnStop(u)
	if p.failures > 0 {
		return 1
	}
	return 0
}
