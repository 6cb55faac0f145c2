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

// spawnOrder lists the class of each user to start, as Locust's
// dispatcher orders them: first the classes with a fixed count, each up
// to its count, then the others by weight, interleaved (smooth weighted
// round robin) so that every prefix of the ramp-up keeps the proportions.
// With only fixed-count classes, their counts are all it starts.
func spawnOrder(p *pool, users int) []string {
	var fixed, weighted []string
	var counts, weights []int
	for _, n := range p.classNames() {
		if c := p.class(n); c.FixedCount > 0 {
			fixed, counts = append(fixed, n), append(counts, c.FixedCount)
		} else {
			weighted, weights = append(weighted, n), append(weights, max(c.Weight, 1))
		}
	}
	nFixed := 0
	for _, c := range counts {
		nFixed += c
	}
	order := interleave(fixed, counts, min(users, nFixed))
	if len(weighted) > 0 {
		order = append(order, interleave(weighted, weights, users-len(order))...)
	}
	return order
}

// interleave picks n names by smooth weighted round robin: over a whole
// round (the weights' sum) each name comes as often as its weight.
func interleave(names []string, weights []int, n int) []string {
	total := 0
	for _, w := range weights {
		total += w
	}
	cur := make([]int, len(names))
	order := make([]string, 0, n)
	for range n {
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
