package nonblock

import (
	"container/heap"
	"time"
)

// Timers is a min-heap of connections ordered by the time each was filed
// under. An event loop has thousands of deadlines that move on every
// request, so the heap is lazy: a connection whose deadline moves later
// keeps its old, earlier place, and is filed again under its real deadline
// when that place comes up (see Loop.Expire). Only a deadline that moves
// earlier costs a heap operation.
type Timers struct {
	h connHeap
}

// Len is the number of connections in the heap.
func (t *Timers) Len() int { return len(t.h) }

// Set files c under at, or moves it there if it is already filed.
func (t *Timers) Set(c *Conn, at time.Time) {
	c.at = at
	if c.slot >= 0 {
		heap.Fix(&t.h, c.slot)
		return
	}
	heap.Push(&t.h, c)
}

// Remove takes c out of the heap if it is in it.
func (t *Timers) Remove(c *Conn) {
	if c.slot >= 0 {
		heap.Remove(&t.h, c.slot)
	}
}

// Peek is the earliest filed connection and its time; ok is false when the
// heap is empty.
func (t *Timers) Peek() (c *Conn, at time.Time, ok bool) {
	if len(t.h) == 0 {
		return nil, time.Time{}, false
	}
	return t.h[0], t.h[0].at, true
}

// Pop removes and returns the earliest filed connection, or nil.
func (t *Timers) Pop() *Conn {
	if len(t.h) == 0 {
		return nil
	}
	return heap.Pop(&t.h).(*Conn)
}

// connHeap implements heap.Interface; each Conn knows its slot so that Fix
// and Remove need no search.
type connHeap []*Conn

func (h connHeap) Len() int           { return len(h) }
func (h connHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h connHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].slot = i
	h[j].slot = j
}

func (h *connHeap) Push(x any) {
	c := x.(*Conn)
	c.slot = len(*h)
	*h = append(*h, c)
}

func (h *connHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.slot = -1
	return c
}
