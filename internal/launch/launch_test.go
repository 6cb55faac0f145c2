package launch

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func watch(t *testing.T, out string) (Ready, error) {
	t.Helper()
	w := NewWatch()
	go Feed(w, strings.NewReader(out), nil)
	return w.Wait(context.Background(), nil, 10*time.Second)
}

func TestReadyLineParsesBack(t *testing.T) {
	r, err := watch(t, AdminLine("127.0.0.1:9090")+"\n"+ReadyLine("127.0.0.1:8080", "epoll", 42)+"\nlater output\n")
	if err != nil {
		t.Fatal(err)
	}
	want := Ready{Addr: "127.0.0.1:8080", Admin: "127.0.0.1:9090", Model: "epoll", Pid: 42}
	if r != want {
		t.Fatalf("got %+v, want %+v", r, want)
	}
}

func TestOtherLineIsAnError(t *testing.T) {
	_, err := watch(t, "hello\n"+ReadyLine("127.0.0.1:1", "m", 1)+"\n")
	if !errors.Is(err, ErrBadLine) || !strings.Contains(err.Error(), `"hello"`) {
		t.Fatalf("got %v, want ErrBadLine naming the line", err)
	}
}

func TestOutputEndingUnreadyIsExited(t *testing.T) {
	if _, err := watch(t, AdminLine("127.0.0.1:9")+"\n"); !errors.Is(err, ErrExited) {
		t.Fatalf("got %v, want ErrExited", err)
	}
}

func TestTimeout(t *testing.T) {
	w := NewWatch()
	if _, err := w.Wait(context.Background(), nil, 10*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}

func TestStartProcess(t *testing.T) {
	p, err := Start(exec.Command("sh", "-c", "echo '"+ReadyLine("127.0.0.1:5", "x", 7)+"'; sleep 30"), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p.Ready.Addr != "127.0.0.1:5" || p.Ready.Model != "x" {
		t.Fatalf("got %+v", p.Ready)
	}
	p.Cmd.Process.Kill()
	<-p.Exited()

	_, err = Start(exec.Command("sh", "-c", "echo oops >&2; exit 3"), 20*time.Second)
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("got %v, want ErrExited with the exit status", err)
	}
}

func run(t *testing.T, script string) *Process {
	t.Helper()
	p, err := Run(exec.Command("sh", "-c", script), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Cmd.Process.Kill(); <-p.Exited() })
	return p
}

// Both Locust versions' wording of a worker joining, the Go worker's line
// on stderr, and a line that came before the wait began.
func TestLineSigns(t *testing.T) {
	p := run(t, `echo 'Worker w1 (index 0) reported as ready. 1 workers connected.'
echo 'w2 (index 1) reported as ready. 2 workers connected.'
echo 'level=INFO msg="`+WorkerReady+`" index=0' >&2
exec sleep 30`)
	if err := p.Await(context.Background(), 10*time.Second, WorkersConnected(2), WorkerJoined()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // every line in
	if err := p.Await(context.Background(), 10*time.Second, WorkersConnected(1), Line("reported as ready")); err != nil {
		t.Fatalf("lines seen before the wait: %v", err)
	}
	if err := p.Await(context.Background(), 200*time.Millisecond, WorkersConnected(3)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("3 workers: got %v, want ErrTimeout", err)
	}
}

func TestExitBeforeTheSign(t *testing.T) {
	p := run(t, "echo starting; exit 4")
	err := p.Await(context.Background(), 20*time.Second, Line("never"))
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "exit status 4") {
		t.Fatalf("got %v, want ErrExited with the exit status", err)
	}
	p = run(t, "exit 5")
	if err := p.Await(context.Background(), 20*time.Second, Dials(refused(t))); !errors.Is(err, ErrExited) {
		t.Fatalf("got %v, want ErrExited", err)
	}
}

func refused(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return l.Addr().String()
}

func TestPolledSigns(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	p := run(t, "exec sleep 30")
	if err := p.Await(context.Background(), 10*time.Second, Dials(srv.Listener.Addr().String()), Answers(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if err := p.Await(context.Background(), 300*time.Millisecond, Answers(srv.URL+"/nothing")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("a 404: got %v, want ErrTimeout", err)
	}
	if err := p.Await(context.Background(), 300*time.Millisecond, Dials(refused(t))); !errors.Is(err, ErrTimeout) {
		t.Fatalf("a refused port: got %v, want ErrTimeout", err)
	}
}
