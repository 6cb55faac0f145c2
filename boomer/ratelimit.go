package boomer

import (
	"context"
	"sync/atomic"
	"time"
)

// limiter spaces task starts evenly at a fixed rate across all users. Each
// caller reserves the next free slot with one atomic operation and sleeps
// until it, so the limiter has no lock and many waiting users still
// produce the exact rate. Slots missed while the load lagged are not made
// up for later: a late caller starts from now, which avoids bursts.
type limiter struct {
	interval int64        // nanoseconds between slots
	next     atomic.Int64 // the next free slot, Unix nanoseconds
	epoch    time.Time    // monotonic base for now()
}

func newLimiter(perSecond int64) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{interval: int64(time.Second) / perSecond, epoch: time.Now()}
}

func (l *limiter) now() int64 { return int64(time.Since(l.epoch)) }

// reserve returns how long the caller must wait for its slot.
func (l *limiter) reserve() time.Duration {
	for {
		now := l.now()
		next := l.next.Load()
		slot := max(next, now)
		if l.next.CompareAndSwap(next, slot+l.interval) {
			return time.Duration(slot - now)
		}
	}
}

// wait blocks until the caller's slot or until ctx is done.
func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	return sleepCtx(ctx, l.reserve())
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
