package itest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/launch"
	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// requestsServed reads serverlab_requests_total from a target's /metrics.
func requestsServed(t *testing.T, admin string) float64 {
	t.Helper()
	res, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var sum float64
	for _, m := range regexp.MustCompile(`(?m)^serverlab_requests_total(?:\{[^}]*\})? (\S+)$`).FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		sum += v
	}
	return sum
}

// A master frozen with SIGSTOP keeps its port open (the kernel completes
// connects) and says nothing: the worker notices the missing heartbeats
// (or a send the master no longer takes),
// its dials to the frozen master time out in the handshake, and once the
// master has been gone for the master-gone timeout (60 s) the users stop
// and the target gets no more requests.
func TestFrozenMasterStopsTheUsers(t *testing.T) {
	t.Parallel() // most of it is the worker's master-gone timeout
	waiting.Join(t)
	l := testbin.Locust(t, locusts.Pinned)
	target, admin := startModel(t, "epoll", "--admin-addr", "127.0.0.1:0")
	port, webPort := testbin.FreePort(t), testbin.FreePort(t)
	master := startMaster(t, "web master", l, port, "--web-host", "127.0.0.1", "--web-port", strconv.Itoa(webPort))
	worker := startWorker(t, port, "-H", target)
	web := fmt.Sprintf("http://127.0.0.1:%d", webPort)
	master.Await(t, 30*time.Second, launch.Answers(web+"/"), launch.WorkersConnected(1))
	testbin.PostForm(t, web+"/swarm", url.Values{"user_count": {"5"}, "spawn_rate": {"5"}, "host": {target}, "target": {"epoll"}})
	testbin.Eventually(t, 30*time.Second, "requests to reach the target", func() (bool, string) {
		n := requestsServed(t, admin)
		return n > 0, fmt.Sprintf("%v requests", n)
	})

	// Only a master known to send heartbeats can be judged silent (older
	// ones send none): frozen before its first answer, it would look like
	// one of those.
	testbin.Eventually(t, 30*time.Second, "the master's first heartbeat", func() (bool, string) {
		out := worker.Out.String()
		return strings.Contains(out, "master sends heartbeats"), testbin.Tail(out, 5)
	})
	master.Signal(syscall.SIGSTOP)
	defer master.Signal(syscall.SIGCONT)
	testbin.Eventually(t, 120*time.Second, "the worker to stop its users", func() (bool, string) {
		out := worker.Out.String()
		return strings.Contains(out, "master gone too long, stopping users"), testbin.Tail(out, 5)
	})
	out := worker.Out.String()
	if !strings.Contains(out, "no heartbeat from master for") && !strings.Contains(out, "it stopped reading") {
		t.Errorf("the worker did not notice the frozen master on its connection:\n%s", testbin.Tail(out, 20))
	}
	if !strings.Contains(out, "no ZMTP handshake from master within 5s") {
		t.Errorf("the worker's dials to the frozen master were not logged as such:\n%s", testbin.Tail(out, 20))
	}
	before := requestsServed(t, admin)
	time.Sleep(3 * time.Second)
	if after := requestsServed(t, admin); after != before {
		t.Errorf("the target still got %v requests after the users stopped", after-before)
	}
}
