package launch

import (
	"context"
	"errors"
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
