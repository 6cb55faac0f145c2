package blocking

import "time"

// Timeouts decides how long each read and write of one connection may
// block, so that a connection served by blocking calls is held to the same
// deadlines as one in an event loop:
//
//   - between requests, the idle timeout, once per read;
//   - a request, from its first byte to its last, must arrive within the
//     read timeout (nginx's client_header_timeout): the deadline does not
//     move when more bytes trickle in, so a client sending one byte every
//     few seconds is closed on time instead of never;
//   - output is abandoned once the write timeout passes without progress
//     (nginx's send_timeout): a client that stops reading is closed on
//     time however much it asked for.
//
// A socket timeout (SO_RCVTIMEO, SO_SNDTIMEO) or a net.Conn deadline covers
// one call, not the whole connection; Timeouts is the connection's clock
// that turns those per-call limits into these deadlines. It is not safe for
// concurrent use: one connection, one Timeouts.
type Timeouts struct {
	idle, read, write time.Duration
	// head is when the request being read began to arrive; zero while
	// nothing of the next request has been read.
	head time.Time
	// progress is when output last moved; zero with nothing to write.
	progress time.Time
}

// NewTimeouts is the clock of a new connection.
func NewTimeouts(idle, read, write time.Duration) Timeouts {
	return Timeouts{idle: idle, read: read, write: write}
}

// ReadWait is how long the next read may block; ok is false once the
// request's deadline has passed and the connection must be closed.
func (t *Timeouts) ReadWait(now time.Time) (wait time.Duration, ok bool) {
	if t.head.IsZero() {
		return t.idle, true
	}
	wait = t.head.Add(t.read).Sub(now)
	return wait, wait > 0
}

// Read records that bytes arrived: the first bytes after a response start
// the next request's deadline. Blank lines before a request count: they
// are not a way to keep a connection open.
func (t *Timeouts) Read(now time.Time) {
	if t.head.IsZero() {
		t.head = now
	}
}

// Answered records that a response was produced. idle says whether the
// connection is between requests now; if not, the next request has already
// begun to arrive, and its deadline starts now.
func (t *Timeouts) Answered(now time.Time, idle bool) {
	if idle {
		t.head = time.Time{}
	} else {
		t.head = now
	}
}

// writeSlice divides the write timeout: a blocking write that returns short
// made progress at some unknown moment within its call, so calls are kept
// to a fraction of the timeout, and a connection that stops moving is
// closed at most a slice after the write timeout.
const writeSlices = 8

// StartWrite starts the write clock for pending output.
func (t *Timeouts) StartWrite(now time.Time) { t.progress = now }

// WriteWait is how long the next write may block; ok is false once the
// write timeout has passed without progress.
func (t *Timeouts) WriteWait(now time.Time) (wait time.Duration, ok bool) {
	left := t.progress.Add(t.write).Sub(now)
	if left <= 0 {
		return 0, false
	}
	return min(left, max(t.write/writeSlices, time.Millisecond)), true
}

// Wrote records that a write moved n bytes, at now (when the call
// returned).
func (t *Timeouts) Wrote(now time.Time, n int) {
	if n > 0 {
		t.progress = now
	}
}
