package single_test

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"serverlab/internal/proctest"
)

// While one client is connected, the next is not even accepted: it waits
// in the backlog until the first leaves.
func TestOneConnectionAtATime(t *testing.T) {
	tg := proctest.Start(t, "single")
	first := tg.Dial()
	if st, _ := proctest.Get(t, first, "/", false); st != 200 {
		t.Fatalf("GET /: status %d", st)
	}
	second := tg.Dial()
	if _, err := io.WriteString(second, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	second.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := second.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second client answered while the first is connected: %d bytes, %v", n, err)
	}
	if n := tg.Metric("serverlab_connections_accepted_total"); n != 1 {
		t.Fatalf("%v connections accepted, want 1", n)
	}
	first.Close()
	second.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(second), nil)
	if err != nil {
		t.Fatalf("second client, once the first left: %v", err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("second client: status %d", resp.StatusCode)
	}
}
