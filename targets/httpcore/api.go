// Package httpcore is the one HTTP/1.1 implementation every hand-written
// model shares: parsing, routing, static files and responses. It does no I/O
// of its own: a model feeds it the bytes it read and writes the bytes it gets
// back, so that the model alone decides how connections are accepted, read,
// written and closed.
package httpcore

import "time"

// Limits every model enforces the same way.
const (
	MaxHeadBytes  = 8 << 10 // a longer request head gets 431
	MaxBodyBytes  = 1 << 20 // a longer request body gets 413
	MaxDelay      = 10 * time.Second
	FlushAt       = 64 << 10 // Step stops producing output past this many pending bytes
	ServerHeader  = "serverlab"
	DefaultDocDir = "targets/www"
)

// Observer is told about each request and response, for metrics.
// Implementations must be safe for concurrent use and cheap: it is on the
// request path of every model.
type Observer interface {
	Request()
	Response(status int)
}

// Step tells the model what to do next with a Session.
type Step int

const (
	// NeedInput: every complete buffered request is answered; write
	// Output() if any, then read more.
	NeedInput Step = iota
	// Flush: Output() is over FlushAt; write it, then call Step again
	// before reading more.
	Flush
	// Wait: the next response is delayed (/delay without block=1); write
	// Output() if any, then call Step again at or after WakeAt(). A blocking
	// model sleeps; an event loop arms a timer and serves others meanwhile.
	Wait
	// Close: write Output(), then close the connection (Connection: close,
	// HTTP/1.0 without keep-alive, or an error response such as 400).
	Close
)

// Reply is what a request resolves to, independent of the wire format, so
// that the reference servers (net/http, fasthttp) serve the same site with
// the same semantics as the hand-written models.
type Reply struct {
	Status      int
	ContentType string
	Body        []byte // also set for HEAD; the writer leaves it out
	Allow       string // for 405
	Delay       time.Duration
	Block       bool // /delay?block=1: the delay blocks the serving thread
}
