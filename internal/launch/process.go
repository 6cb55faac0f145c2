package launch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options say where a started process's output goes besides the signs
// awaited on it.
type Options struct {
	Log  io.Writer    // every line, newline included, as it comes; nil: kept nowhere
	Line func(string) // also sees every line (without its newline)
	// Start starts the command, e.g. pinned to some CPUs; nil: cmd.Start.
	Start func(*exec.Cmd) error
	// StdoutOnly reads stdout alone and leaves stderr as cmd.Stderr
	// says, as it is when the caller set cmd.Stderr.
	StdoutOnly bool
}

// history bounds the lines a Process keeps for signs awaited after the
// line came: a sign is awaited soon after the start, the lines of a long
// run are not kept.
const history = 4096

// Process is a started process whose output is read line by line.
type Process struct {
	Cmd   *exec.Cmd
	Ready Ready // what bin/target said, once Target was awaited

	exited chan struct{}
	err    error         // Wait's result, once exited is closed
	read   chan struct{} // closed once the output has ended
	strict bool          // stdout alone is read: a target prints only its own lines there

	mu    sync.Mutex
	lines []string      // the latest lines
	first int           // how many lines came before lines[0]
	more  chan struct{} // closed, and made anew, when a line comes
}

// Run starts cmd and reads its output: stdout and stderr on one pipe, so
// that their order is kept, or stdout alone when the caller set
// cmd.Stderr. cmd.Stdout must be unset. It does not wait for anything.
func Run(cmd *exec.Cmd, o Options) (*Process, error) {
	if cmd.Stdout != nil {
		return nil, errors.New("launch: cmd.Stdout is set; Options.Log takes the output")
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, exited: make(chan struct{}), read: make(chan struct{}),
		strict: o.StdoutOnly || cmd.Stderr != nil, more: make(chan struct{})}
	cmd.Stdout = w
	if !p.strict {
		cmd.Stderr = w
	}
	start := o.Start
	if start == nil {
		start = (*exec.Cmd).Start
	}
	err = start(cmd)
	w.Close() // the child holds its own copy
	if err != nil {
		r.Close()
		return nil, err
	}
	go p.copy(r, o)
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// copy reads the output to its end: a child that forked keeps it open
// after its own exit for as long as its children live.
func (p *Process) copy(r *os.File, o Options) {
	defer close(p.read)
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			if o.Log != nil {
				if !strings.HasSuffix(line, "\n") {
					line += "\n"
				}
				io.WriteString(o.Log, line)
			}
			line = strings.TrimRight(line, "\r\n")
			if o.Line != nil {
				o.Line(line)
			}
			p.mu.Lock()
			if len(p.lines) == history {
				p.lines = append(p.lines[:0], p.lines[history/2:]...)
				p.first += history / 2
			}
			p.lines = append(p.lines, line)
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// Start starts cmd, a bin/target (cmd.Stdout unset), and waits for its
// ready line for at most timeout. On an error the process is killed and
// waited for; the error says why it was not ready.
func Start(cmd *exec.Cmd, timeout time.Duration) (*Process, error) {
	p, err := Run(cmd, Options{StdoutOnly: true})
	if err != nil {
		return nil, err
	}
	if err := p.Await(context.Background(), timeout, Target()); err != nil {
		p.Cmd.Process.Kill()
		<-p.exited
		return nil, err
	}
	return p, nil
}

// Exited is closed once the process has ended and been waited for.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is how the process ended; valid once Exited is closed.
func (p *Process) Err() error { return p.err }

// how says how the process ended, once its output has: its exit status,
// or that it closed its output and runs on.
func (p *Process) how() string {
	select {
	case <-p.exited:
	case <-time.After(time.Second):
		return "its output closed"
	}
	if p.err == nil {
		return "exit status 0"
	}
	return p.err.Error()
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// OutputDone is closed once the output has ended.
func (p *Process) OutputDone() <-chan struct{} { return p.read }

// OutputEnded waits at most d for the output to end (a process that
// exited may have left children holding it) and says whether it did.
func (p *Process) OutputEnded(d time.Duration) bool {
	select {
	case <-p.read:
		return true
	case <-time.After(d):
		return false
	}
}

// A Sign tells that a process is ready: a line in its output, or
// something that answers once it is.
type Sign struct {
	what string
	// line, for a sign in the output, sees each line and says when the
	// sign has come, or that it never will.
	line func(p *Process) func(string) (bool, error)
	poll func() bool // for a sign outside: polled until true
}

func (s Sign) String() string { return s.what }

// Line is the sign of a line containing s.
func Line(s string) Sign {
	return Sign{what: fmt.Sprintf("a line with %q", s), line: func(*Process) func(string) (bool, error) {
		return func(l string) (bool, error) { return strings.Contains(l, s), nil }
	}}
}

// Target is bin/target's ready line; Await fills the Process's Ready from
// it. When stdout alone is read, any other line before it is an error.
func Target() Sign {
	return Sign{what: "the ready line", line: func(p *Process) func(string) (bool, error) {
		w := NewWatch()
		return func(l string) (bool, error) {
			if !p.strict && !Announces(l) {
				return false, nil // the log, on the same pipe
			}
			w.Line(l)
			select {
			case <-w.done:
			default:
				return false, nil
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.err == nil {
				p.mu.Lock()
				p.Ready = w.ready
				p.mu.Unlock()
			}
			return true, w.err
		}
	}}
}

// WorkerJoined is bin/boomer's line once a master has taken it in.
func WorkerJoined() Sign { return Line(WorkerReady) }

var connectedRE = regexp.MustCompile(`reported as ready\. (\d+) workers connected\.`)

// WorkersConnected is a Locust master's log line counting n workers or
// more: Go or Python ones, on both 2.47.0 and 2.12.1. A Python worker
// logs nothing when it joins, so this is the sign it has.
func WorkersConnected(n int) Sign {
	return Sign{what: fmt.Sprintf("the master's log counting %d workers", n), line: func(*Process) func(string) (bool, error) {
		return func(l string) (bool, error) {
			m := connectedRE.FindStringSubmatch(l)
			if m == nil {
				return false, nil
			}
			got, _ := strconv.Atoi(m[1])
			return got >= n, nil
		}
	}}
}

// Dials is the sign that addr (host:port) accepts TCP connections: a
// Locust master's port for workers, once it is bound.
func Dials(addr string) Sign {
	return Sign{what: "connections accepted on " + addr, poll: func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}}
}

// Poll is the sign that ready says true, asked every 50 ms: for what the
// launcher cannot see by itself, e.g. a web UI's count of workers.
func Poll(what string, ready func() bool) Sign { return Sign{what: what, poll: ready} }

// Master is a Locust master's sign: its port for workers on loopback
// accepts connections.
func Master(port int) Sign { return Dials(net.JoinHostPort("127.0.0.1", strconv.Itoa(port))) }

var client = &http.Client{Timeout: 5 * time.Second}

// Answers is the sign that GET url answers 200: a Locust web UI (its /).
func Answers(url string) Sign {
	return Sign{what: "GET " + url + " answering 200", poll: func() bool {
		res, err := client.Get(url)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}}
}

// Await waits for every sign, in order, for at most timeout in all. It
// fails early when the process ends first (ErrExited, with how it ended)
// or ctx is done (ctx's error). A line that came before Await was called
// counts.
func (p *Process) Await(ctx context.Context, timeout time.Duration, signs ...Sign) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for _, s := range signs {
		var err error
		if s.line != nil {
			err = p.awaitLine(ctx, t.C, s)
		} else {
			err = p.awaitPoll(ctx, t.C, s)
		}
		switch {
		case errors.Is(err, ErrTimeout):
			return fmt.Errorf("%w: waited %v for %s", ErrTimeout, timeout, s.what)
		case errors.Is(err, ErrExited):
			return fmt.Errorf("%w (%s): waited for %s", ErrExited, p.how(), s.what)
		case err != nil:
			return err
		}
	}
	return nil
}

func (p *Process) awaitLine(ctx context.Context, timer <-chan time.Time, s Sign) error {
	match := s.line(p)
	next, over := 0, false
	exited := p.exited
	for {
		p.mu.Lock()
		next = max(next, p.first)
		batch := append([]string(nil), p.lines[next-p.first:]...)
		next += len(batch)
		more := p.more
		p.mu.Unlock()
		for _, l := range batch {
			if ok, err := match(l); ok || err != nil {
				return err
			}
		}
		if over {
			return ErrExited
		}
		select {
		case <-more:
		case <-p.read:
			over = true // every line is in: one last look
		case <-exited:
			// Its last lines may still be on their way through the
			// pipe, which a child it left may hold open.
			exited = nil
			p.OutputEnded(time.Second)
			over = true
		case <-timer:
			return ErrTimeout
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *Process) awaitPoll(ctx context.Context, timer <-chan time.Time, s Sign) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !s.poll() {
		select {
		case <-p.exited:
			return ErrExited
		case <-timer:
			return ErrTimeout
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}
