package targets_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/repo"
)

// The attacks a hostile or careless client makes on a server, each run
// against every model it concerns. A model is held to its deadlines (the
// attacker is closed in time), the other clients are still served, and it
// exits 0 on SIGTERM afterwards. Where a model is meant to suffer (single
// serves one client at a time, a pool as many as it has workers, an event
// loop stops while /delay?block=1 sleeps), the test asserts that suffering
// and nothing worse: the other clients are served once it is over.
//
// `go test` runs a fast version: a few attackers and second-long timeouts.
// ADVERSARIAL=full (make test-adversarial) runs the attacks at the scale
// and timeouts they were found with.

// attackPlan is the scale of the attacks.
type attackPlan struct {
	read, write, idle time.Duration // the target's timeouts
	drippers          int           // slow-drip clients against the models that hold many connections
	dripEvery         time.Duration // one header byte this often
	photos            int           // requests pipelined by the client that never reads
	threadCap         int           // the thread model's cap, and conns tries twice that many
	delay             time.Duration // /delay?block=1
	margin            time.Duration // on top of a deadline, for two busy cores
}

func plan() attackPlan {
	if os.Getenv("ADVERSARIAL") == "full" {
		return attackPlan{read: 10 * time.Second, write: 10 * time.Second, idle: 10 * time.Second,
			drippers: 200, dripEvery: 3 * time.Second, photos: 1000, threadCap: 200,
			delay: 3 * time.Second, margin: 5 * time.Second}
	}
	return attackPlan{read: 1500 * time.Millisecond, write: 2 * time.Second, idle: 1500 * time.Millisecond,
		drippers: 3, dripEvery: 400 * time.Millisecond, photos: 200, threadCap: 6,
		delay: time.Second, margin: 1200 * time.Millisecond}
}

// workers is the pool size the pool models run with here: the attacks that
// take a whole pool use this many attackers.
const workers = 2

// poolOf is how many clients a model serves at once, 0 for as many as
// connect.
func poolOf(model string) int {
	switch model {
	case "single":
		return 1
	case "prefork", "threadpool":
		return workers
	}
	return 0
}

func TestAdversarial(t *testing.T) {
	bin := targetBin(t)
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	www := filepath.Join(root, "targets", "www")
	p := plan()
	for _, model := range listModels(t, bin) {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			tg := start(t, bin, model, "--docroot", www, "--read-timeout", p.read.String(), "--write-timeout", p.write.String(),
				"--idle-timeout", p.idle.String(), "--workers", strconv.Itoa(workers), "--admin-addr", "127.0.0.1:0")
			t.Run("slow-drip", func(t *testing.T) { slowDrip(t, tg, p) })
			t.Run("pipeline-never-read", func(t *testing.T) { pipelineNeverRead(t, tg, p) })
			t.Run("keep-alive-hog", func(t *testing.T) { keepAliveHog(t, tg, p) })
			t.Run("blocking-delay", func(t *testing.T) { blockingDelay(t, tg, p) })
			stopClean(t, tg)
		})
	}
}

// stopClean sends SIGTERM and fails unless the target exits 0 in time.
func stopClean(t *testing.T, tg *target) {
	t.Helper()
	tg.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-tg.exited:
	case <-time.After(exitWait):
		t.Fatalf("%s still running %v after SIGTERM", tg.model, exitWait)
	}
	if tg.err != nil {
		t.Fatalf("%s exited with %v after the attacks; stderr:\n%s", tg.model, tg.err, tg.stderr)
	}
}

// served is a normal client's GET / on a new connection, answered or not.
type served struct {
	at  time.Time
	err error
}

// getIndex fetches / on a new connection in the background.
func getIndex(tg *target) <-chan served {
	ch := make(chan served, 1)
	go func() {
		c, err := net.DialTimeout("tcp", tg.addr, ioWait)
		if err != nil {
			ch <- served{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * ioWait))
		io.WriteString(c, get("/"))
		r, err := readResponse(bufio.NewReader(c), false)
		if err == nil && r.status != 200 {
			err = fmt.Errorf("%v", r)
		}
		ch <- served{time.Now(), err}
	}()
	return ch
}

// waitClosed reads c until the server closes it (end of file or reset),
// allowing one response first (408, or the model's own status for a
// request that timed out), and returns when; an error if the connection
// was still open at deadline.
func waitClosed(c net.Conn, model string, deadline time.Time) (time.Time, error) {
	c.SetReadDeadline(deadline)
	br := bufio.NewReader(c)
	if b, err := br.Peek(1); err == nil && b[0] == 'H' {
		r, err := readResponse(br, false)
		if err != nil || r.status != 408 && r.status != timeoutStatus[model] {
			return time.Time{}, fmt.Errorf("answered %v %v, want 408 or nothing", r, err)
		}
	}
	_, err := br.ReadByte()
	switch {
	case err == nil:
		return time.Time{}, errors.New("sent bytes that are no response")
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return time.Now(), nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return time.Time{}, errors.New("still open")
	}
	return time.Time{}, err
}

// slowDrip: the request line, then one header byte at a time, never the
// end of the head. The head must arrive within the read timeout counted
// from its first byte, however the bytes trickle in.
func slowDrip(t *testing.T, tg *target, p attackPlan) {
	n := p.drippers
	if pool := poolOf(tg.model); pool > 0 {
		n = pool // more would only queue behind these
	}
	if tg.model == "process" {
		// Each costs a fork and exec before its deadline can even start
		// (a fifth of a second under the race detector): a few dozen
		// show the deadline; hundreds would time the forks.
		n = min(n, 20)
	}
	begin := time.Now()
	deadline := begin.Add(p.read + p.margin)
	var wg sync.WaitGroup
	closedAt := make([]time.Time, n)
	errs := make([]error, n)
	for i := range n {
		c, err := net.DialTimeout("tcp", tg.addr, ioWait)
		if err != nil {
			t.Fatalf("dripper %d: %v", i, err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\n")
		wg.Go(func() {
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				header := "Host: test\r\nX-Drip: " + strings.Repeat("a", 1000)
				for j := 0; ; j++ {
					select {
					case <-stop:
						return
					case <-time.After(p.dripEvery):
					}
					if _, err := io.WriteString(c, header[j%len(header):j%len(header)+1]); err != nil {
						return
					}
				}
			}()
			closedAt[i], errs[i] = waitClosed(c, tg.model, deadline.Add(p.dripEvery))
		})
	}
	// A client arriving in the middle of the attack.
	time.Sleep(p.dripEvery / 2)
	normal := getIndex(tg)
	wg.Wait()
	first := deadline
	for i := range n {
		if errs[i] != nil {
			t.Errorf("dripper %d of %d, read timeout %v: %v after %v", i+1, n, p.read, errs[i], time.Since(begin).Round(time.Millisecond))
		} else if closedAt[i].Before(first) {
			first = closedAt[i]
		}
	}
	s := <-normal
	if s.err != nil {
		t.Fatalf("a normal client during the attack: %v", s.err)
	}
	if poolOf(tg.model) == 0 && s.at.After(first) {
		t.Errorf("a normal client was answered only after the attackers were closed (%v after the attack began)",
			s.at.Sub(begin).Round(time.Millisecond))
	}
	// A model that serves as many as it has workers waits for them: that
	// is its lesson, and the test above shows the wait ends.
}

// pipelineNeverRead: many requests for the photo in one go, and no reads.
// Once the socket buffers are full the server can make no progress; it
// must close the connection once the write timeout passes that way.
func pipelineNeverRead(t *testing.T, tg *target, p attackPlan) {
	c, err := net.DialTimeout("tcp", tg.addr, ioWait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4 << 10) // fill up sooner
	c.SetWriteDeadline(time.Now().Add(ioWait))
	if _, err := io.WriteString(c, strings.Repeat(get("/photo.jpg"), p.photos)); err != nil {
		t.Fatalf("sending %d requests: %v", p.photos, err)
	}
	begin := time.Now()
	// A client arriving while the server is stuck on this one.
	time.Sleep(p.write / 4)
	normal := getIndex(tg)
	// The connection cannot be watched from this side: the server's FIN is
	// queued behind the response bytes nobody reads. Its metrics can.
	var closedAt time.Time
	for limit := begin.Add(p.write + p.margin + 5*time.Second); time.Now().Before(limit); time.Sleep(50 * time.Millisecond) {
		_, text := tg.adminGet(t, "/metrics")
		if v, ok := metric(text, "serverlab_connections_active"); ok && v == 0 {
			closedAt = time.Now()
			break
		}
	}
	switch {
	case closedAt.IsZero():
		t.Errorf("a client that never reads still connected %v after it stopped reading (write timeout %v)",
			time.Since(begin).Round(time.Millisecond), p.write)
	case closedAt.Sub(begin) > p.write+p.margin:
		t.Errorf("a client that never reads closed after %v, want within %v of the write timeout %v",
			closedAt.Sub(begin).Round(time.Millisecond), p.margin, p.write)
	}
	s := <-normal
	if s.err != nil {
		t.Fatalf("a normal client during the attack: %v", s.err)
	}
	if poolOf(tg.model) != 1 && !closedAt.IsZero() && s.at.After(closedAt) {
		t.Errorf("a normal client was answered only after the attacker was closed")
	}
}

// keepAliveHog: as many keep-alive clients as the model serves at once,
// idle after one request. The next client waits for their idle timeout
// with single and the pools (the lesson), and not at all with the others.
func keepAliveHog(t *testing.T, tg *target, p attackPlan) {
	n := max(poolOf(tg.model), 1)
	for range n {
		r, c, _ := tg.roundTrip(t, get("/"))
		if r.status != 200 {
			t.Fatalf("hog: %v", r)
		}
		defer c.Close()
	}
	begin := time.Now()
	s := <-getIndex(tg)
	if s.err != nil {
		t.Fatalf("the client after %d idle keep-alive clients: %v", n, s.err)
	}
	waited := s.at.Sub(begin)
	if poolOf(tg.model) > 0 {
		if waited < p.idle/2 {
			t.Errorf("answered after %v with %d idle keep-alive clients holding the model: the lesson is gone", waited, n)
		}
		if waited > p.idle+p.margin {
			t.Errorf("answered after %v, more than the idle timeout %v", waited, p.idle)
		}
	} else if waited > p.idle/2 {
		t.Errorf("answered after %v: an idle keep-alive client held up another", waited)
	}
}

// blockingDelay: /delay?block=1 sleeps in the thread that serves it. An
// event loop serves no one meanwhile (its lesson), every other model
// serves the next client at once; single serves it once the sleeper's
// connection is closed. The reactor's loops stall one at a time: the next
// client may land on another, so only its being served is checked.
func blockingDelay(t *testing.T, tg *target, p attackPlan) {
	c := tg.dial(t)
	begin := time.Now()
	io.WriteString(c, "GET /delay?block=1&ms="+strconv.Itoa(int(p.delay/time.Millisecond))+" HTTP/1.1\r\n"+host+"Connection: close\r\n\r\n")
	time.Sleep(100 * time.Millisecond) // the sleep has begun
	normal := getIndex(tg)
	r, err := readResponse(bufio.NewReader(c), false)
	if err != nil || r.status != 200 {
		t.Fatalf("/delay?block=1: %v %v", r, err)
	}
	delayed := time.Now()
	s := <-normal
	if s.err != nil {
		t.Fatalf("a client during a blocking delay: %v", s.err)
	}
	stalls := eventLoops[tg.model] && tg.model != "reactor" || tg.model == "single"
	switch {
	case tg.model == "reactor":
	case stalls && s.at.Sub(begin) < p.delay*3/4:
		t.Errorf("answered %v into a blocking delay of %v: the loop should have been stalled", s.at.Sub(begin), p.delay)
	case !stalls && s.at.After(delayed):
		t.Errorf("answered only after another client's blocking delay of %v", p.delay)
	}
}

// TestAdversarialThreadCap: more connections than the thread model may
// have threads. Past its cap (lowered here through SERVERLAB_MAX_THREADS,
// instead of ten thousand real threads) each new client gets a 503 and is
// closed, counted and logged; the connections it holds are still served,
// a freed thread serves a new client, and the server exits 0.
func TestAdversarialThreadCap(t *testing.T) {
	bin := targetBin(t)
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	p := plan()
	tg := startEnv(t, bin, "thread", []string{"SERVERLAB_MAX_THREADS=" + strconv.Itoa(p.threadCap)},
		"--docroot", filepath.Join(root, "targets", "www"), "--admin-addr", "127.0.0.1:0", "--idle-timeout", "60s")
	if want := fmt.Sprintf("at most %d connection threads (from SERVERLAB_MAX_THREADS=%d)", p.threadCap, p.threadCap); !tg.stderr.WaitFor(want, ioWait) {
		t.Fatalf("no %q in the log:\n%s", want, tg.stderr)
	}
	held := make([]net.Conn, p.threadCap)
	readers := make([]*bufio.Reader, p.threadCap)
	for i := range held {
		var r *response
		r, held[i], readers[i] = tg.roundTrip(t, get("/"))
		if r.status != 200 {
			t.Fatalf("connection %d: %v", i, r)
		}
	}
	for i := range p.threadCap {
		c := tg.dial(t)
		br := bufio.NewReader(c)
		r, err := readResponse(br, false)
		if err != nil || r.status != 503 || !strings.Contains(string(r.body), "out of threads") {
			t.Fatalf("connection %d past the cap: %v %v, want a 503 saying why", p.threadCap+i, r, err)
		}
		expectClosed(t, c, br)
	}
	if !tg.stderr.WaitFor("refused", ioWait) {
		t.Errorf("no refusal logged:\n%s", tg.stderr)
	}
	_, text := tg.adminGet(t, "/metrics")
	if v, _ := metric(text, "serverlab_responses_total", `status="503"`); v != float64(p.threadCap) {
		t.Errorf(`serverlab_responses_total{status="503"} = %v, want %d`, v, p.threadCap)
	}
	if v, _ := metric(text, "serverlab_os_threads"); v > float64(2*p.threadCap+64) {
		t.Errorf("%v OS threads with a cap of %d connection threads", v, p.threadCap)
	}
	for i, c := range held {
		io.WriteString(c, get("/style.css"))
		if r, err := readResponse(readers[i], false); err != nil || r.status != 200 {
			t.Fatalf("held connection %d after the refusals: %v %v", i, r, err)
		}
	}
	held[0].Close()
	deadline := time.Now().Add(ioWait)
	for {
		r := tg.fetch(t, get("/"))
		if r.status == 200 {
			break
		}
		if r.status != 503 || time.Now().After(deadline) {
			t.Fatalf("after a held connection closed: %v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopClean(t, tg)
}
