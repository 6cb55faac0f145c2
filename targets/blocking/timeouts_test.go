package blocking

import (
	"testing"
	"time"
)

func TestRequestDeadlineDoesNotMoveWithEachByte(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := NewTimeouts(60*time.Second, 10*time.Second, 10*time.Second)
	if w, ok := c.ReadWait(t0); !ok || w != 60*time.Second {
		t.Fatalf("between requests: %v %v, want the idle timeout", w, ok)
	}
	c.Read(t0)                      // the request line
	c.Read(t0.Add(4 * time.Second)) // a header byte
	c.Read(t0.Add(8 * time.Second)) // another
	if w, ok := c.ReadWait(t0.Add(8 * time.Second)); !ok || w != 2*time.Second {
		t.Errorf("8 s into a request: %v %v, want 2s left", w, ok)
	}
	if _, ok := c.ReadWait(t0.Add(10 * time.Second)); ok {
		t.Errorf("10 s into a request: still allowed to read")
	}
	// A response ends the request; the next begins with its first byte,
	// or at once if it has begun already.
	c.Answered(t0.Add(9*time.Second), true)
	if w, ok := c.ReadWait(t0.Add(30 * time.Second)); !ok || w != 60*time.Second {
		t.Errorf("after a response: %v %v, want the idle timeout", w, ok)
	}
	c.Answered(t0.Add(31*time.Second), false)
	if w, ok := c.ReadWait(t0.Add(35 * time.Second)); !ok || w != 6*time.Second {
		t.Errorf("a pipelined request begun at the response: %v %v, want 6s left", w, ok)
	}
}

func TestWriteTimeoutCountsFromProgress(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := NewTimeouts(time.Minute, 10*time.Second, 8*time.Second)
	c.StartWrite(t0)
	if w, ok := c.WriteWait(t0); !ok || w != time.Second {
		t.Fatalf("first write: %v %v, want a slice of 1s", w, ok)
	}
	c.Wrote(t0.Add(5*time.Second), 100)
	c.Wrote(t0.Add(7*time.Second), 0) // timed out with nothing moved
	if w, ok := c.WriteWait(t0.Add(12500 * time.Millisecond)); !ok || w != 500*time.Millisecond {
		t.Errorf("7.5 s after progress: %v %v, want the last 0.5s", w, ok)
	}
	if _, ok := c.WriteWait(t0.Add(13 * time.Second)); ok {
		t.Errorf("8 s without progress: still allowed to write")
	}
}
