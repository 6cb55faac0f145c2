package testbin

import (
	"bytes"
	"strings"
	"sync"
	"time"
)

// Output collects what a child process writes (set it as cmd.Stdout or
// cmd.Stderr) while the test reads it: exec's copying goroutine and the
// test touch it at the same time, hence the lock.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// WaitFor polls until the output contains s, for at most d, and says
// whether it came.
func (o *Output) WaitFor(s string, d time.Duration) bool {
	for end := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(o.String(), s) {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}
