package main

import (
	"context"
	"log/slog"
	"math"
	"reflect"
	"sync/atomic"
	"time"

	"serverlab/boomer"
)

// The open model's messages between the master's rate sweep
// (serverlab_locust/sweep.py) and this worker.
const (
	// rateMessage, from the master: {"step": N, "rate": R, "total_rate":
	// T, "workers": W}. R is this worker's share of the step's T requests
	// a second (the master splits T as it splits the users); at R 0 the
	// users wait for a rate (sent before the users are spawned, so that
	// they make no request of their own). {"open": false} ends the open
	// model.
	rateMessage = "serverlab_rate"
	// rateStatsMessage, to the master once a second while a rate is set:
	// {"step", "rate", "due", "started", "late", "backlog", "max_lag_ms",
	// "engaged"}, counted since the step's rate was set (max_lag_ms since
	// the previous message).
	rateStatsMessage = "serverlab_rate_stats"
	rateStatsEvery   = time.Second
)

// openModel lets the master set the users' arrival rate, and reports how
// the schedule is kept until ctx is done.
func openModel(ctx context.Context, b *boomer.Boomer, log *slog.Logger) {
	var step atomic.Int64
	b.RegisterMessage(rateMessage, func(data any) {
		m, _ := data.(map[string]any)
		if open, ok := m["open"].(bool); ok && !open {
			b.EndArrivals()
			log.Info("arrival rate ended")
			return
		}
		rate, ok := number(m["rate"])
		n, _ := number(m["step"])
		if !ok || rate < 0 || math.IsInf(rate, 0) {
			log.Warn("arrival rate message without a rate", "data", data)
			return
		}
		step.Store(int64(n))
		b.SetArrivalRate(rate)
		log.Info("arrival rate", "step", int64(n), "rate", rate)
	})
	go func() {
		t := time.NewTicker(rateStatsEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s := b.ArrivalStats()
			if s.Rate == 0 {
				continue
			}
			err := b.SendMessage(rateStatsMessage, map[string]any{
				"step": step.Load(), "rate": s.Rate, "due": s.Due, "started": s.Started, "late": s.Late,
				"backlog": s.Backlog(), "max_lag_ms": float64(s.MaxLag) / float64(time.Millisecond),
				"engaged": int64(s.Engaged),
			})
			if err != nil {
				log.Debug("cannot send arrival stats", "err", err)
			}
		}
	}()
}

// number reads a msgpack number, whichever width the master sent.
func number(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanFloat():
		return rv.Float(), !math.IsNaN(rv.Float())
	case rv.CanInt():
		return float64(rv.Int()), true
	case rv.CanUint():
		return float64(rv.Uint()), true
	}
	return 0, false
}
