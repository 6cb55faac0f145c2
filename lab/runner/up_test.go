package runner

import (
	"strings"
	"testing"
)

// What lab up gives each target and the master: the target limits to
// every target, each model's own ports from the base, and the master the
// class picker and every model's URLs.
func TestUpArgs(t *testing.T) {
	cfg := UpConfig{Models: []string{"select", "epoll"}, All: []string{"single", "select", "epoll"}, Workers: 2,
		PortBase: 8100, WebHost: "127.0.0.1", WebPort: 8089, MasterPort: 5557, Target: "epoll",
		MaxFDs: 256, Pool: 3, OnEMFILE: "shed", TargetArgs: []string{"--idle-timeout", "30s"}, Repo: "/r"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(upTargetArgs(&cfg, "epoll"), " ")
	want := "--model epoll --addr 127.0.0.1:8102 --admin-addr 127.0.0.1:8202 --docroot /r/targets/www " +
		"--max-fds 256 --workers 3 --on-emfile shed --idle-timeout 30s"
	if got != want {
		t.Errorf("target args\n got %s\nwant %s", got, want)
	}
	cfg.MaxFDs, cfg.Pool, cfg.OnEMFILE, cfg.TargetArgs, cfg.PortBase = 0, 0, "", nil, 0
	if got := strings.Join(upTargetArgs(&cfg, "select"), " "); got != "--model select --addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --docroot /r/targets/www" {
		t.Errorf("target args without limits or base: %s", got)
	}
	targets := []Endpoint{{Model: "select", Site: "http://127.0.0.1:8101", Admin: "http://127.0.0.1:8201"},
		{Model: "epoll", Site: "http://127.0.0.1:8102", Admin: "http://127.0.0.1:8202"}}
	got = strings.Join(masterUpArgs(&cfg, "/r/locustfile.py", 5557, 8089, targets), " ")
	want = "-f /r/locustfile.py --master --master-bind-host 127.0.0.1 --master-bind-port 5557 " +
		"--web-host 127.0.0.1 --web-port 8089 --class-picker --target epoll " +
		"--target-hosts select=http://127.0.0.1:8101,epoll=http://127.0.0.1:8102 " +
		"--target-admin-url select=http://127.0.0.1:8201,epoll=http://127.0.0.1:8202"
	if got != want {
		t.Errorf("master args\n got %s\nwant %s", got, want)
	}
}
