package boomer

import (
	"context"
	"time"
)

// runStandalone ramps users up at the spawn rate, splitting them between
// classes by weight, and runs them for the run time.
func (b *Boomer) runStandalone(ctx context.Context, p *pool) error {
	var deadline <-chan time.Time
	if b.runTime > 0 {
		t := time.NewTimer(b.runTime)
		defer t.Stop()
		deadline = t.C
	}
	order := spawnOrder(p, b.users)
	host := ""
	if b.opts.ResolveHost != nil {
		h, err := b.opts.ResolveHost("", nil)
		if err != nil {
			return err
		}
		host = h
	}
	b.warnDescriptors(int64(b.users))
	b.log.Info("starting users", "users", b.users, "spawn_rate", b.spawnRate, "run_time", b.runTime)
	start := time.Now()
	started := 0
	spawnTimer := time.NewTimer(0)
	defer spawnTimer.Stop()
	spawning := true
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-b.quit:
			break loop
		case <-deadline:
			break loop
		case <-spawnTimer.C:
		}
		if !spawning {
			continue
		}
		due := min(int(time.Since(start).Seconds()*b.spawnRate)+1, len(order))
		for ; started < due; started++ {
			p.start(p.class(order[started]), host, 1)
		}
		if started == len(order) {
			spawning = false
			b.log.Info("all users spawned", "users", started, "counts", p.counts(nil))
			continue
		}
		next := start.Add(time.Duration(float64(started) / b.spawnRate * float64(time.Second)))
		spawnTimer.Reset(time.Until(next))
	}
	runs := p.stopAll(0)
	if left := waitRuns(runs, stopGrace); left > 0 {
		b.log.Warn("users still running after stop: a task or on_stop ignores User.Ctx", "users", left)
	}
	b.stats.collect()
	return nil
}

// spawnOrder lists the class of each user to start, interleaving classes
// by weight (smooth weighted round robin), so every prefix of the ramp-up
// keeps the classes' proportions.
func spawnOrder(p *pool, users int) []string {
	names := p.classNames()
	weights := make([]int, len(names))
	total := 0
	for i, n := range names {
		weights[i] = max(p.class(n).Weight, 1)
		total += weights[i]
	}
	cur := make([]int, len(names))
	order := make([]string, 0, users)
	for range users {
		best := 0
		for i := range names {
			cur[i] += weights[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		order = append(order, names[best])
	}
	return order
}
