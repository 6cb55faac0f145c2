package selectmodel

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/nbtest"
)

func TestMain(m *testing.M) { nbtest.Main(m, Model) }

func TestServes(t *testing.T) { nbtest.Suite(t) }

// Connections whose descriptor would not fit an fd_set are closed with a
// logged reason; the ones that fit are still served.
func TestDescriptorsPastFDSetSize(t *testing.T) {
	tg := nbtest.Start(t)
	const n = 1100 // more than FD_SETSIZE (1024) descriptors in the server
	clients := make([]*nbtest.Client, n)
	for i := range clients {
		clients[i] = tg.Dial(t)
	}
	served, refused := 0, 0
	for _, c := range clients {
		c.Get("/")
		r, err := c.TryRead(20 * time.Second)
		switch {
		case err == nil && r.Status == 200:
			served++
		case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
			refused++
		default:
			t.Fatalf("neither served nor closed: status %d, %v", r.Status, err)
		}
	}
	if served < 1000 || refused < n-1024 {
		t.Fatalf("%d served and %d closed of %d; want about 1020 served", served, refused, n)
	}
	if !strings.Contains(tg.Stderr(), "FD_SETSIZE") {
		t.Fatalf("no logged reason; stderr:\n%s", tg.Stderr())
	}
	// Fewer than one log line per refused connection: rate limited.
	if lines := strings.Count(tg.Stderr(), "FD_SETSIZE"); lines >= refused {
		t.Fatalf("%d log lines for %d refusals", lines, refused)
	}
	tg.Stop(t)
}
