package main

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"serverlab/boomer/declared"
	"serverlab/internal/repo"
	"serverlab/internal/testbin"
)

func TestBadUsageIsOneLineAndExit2(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "flag provided but not defined"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--master-port", "0"}, "--master-port 0"},
		{[]string{"--master-port", "x"}, "invalid value"},
		{[]string{"--loglevel", "loud"}, "--loglevel"},
		{[]string{"--run-time", "soon"}, "--run-time"},
		{[]string{"--max-fds", "3"}, "--max-fds 3"},
		{[]string{"-H", "127.0.0.1:8080"}, "want http://"},
		{[]string{"--target-url", "target-{model}"}, "--target-url"},
		{[]string{"--standalone"}, "need -H"},
		{[]string{"--run-tasks", "LabUser"}, "need -H"},
		{[]string{"--standalone", "--users", "0", "-H", "http://127.0.0.1:1"}, "--users 0"},
		{[]string{"--spawn-rate", "0"}, "--spawn-rate"},
		{[]string{"--connect-timeout", "soon"}, "--connect-timeout"},
		{[]string{"--response-timeout", "-1"}, "--response-timeout"},
		{[]string{"--response-timeout", "1e300"}, "--response-timeout"},
		{[]string{"--spawn-rate", "Inf"}, "--spawn-rate +Inf"},
		{[]string{"--spawn-rate", "NaN"}, "--spawn-rate NaN"},
		{[]string{"--spawn-rate", "-3"}, "--spawn-rate -3"},
		{[]string{"-H", "http://127.0.0.1:99999"}, "port 99999"},
		{[]string{"-H", "http://127.0.0.1:0"}, "port 0"},
		{[]string{"-H", "http://127.0.0.1:"}, "empty port"},
		{[]string{"-H", "http://:8080"}, "want http://HOST"},
		{[]string{"--target-url", "http://target-{model}:70000"}, "port 70000"},
		{[]string{"--max-body", "0"}, "--max-body"},
		{[]string{"--max-body", "2G"}, "--max-body"},
		{[]string{"--max-body", "lots"}, "--max-body"},
		{[]string{"--standalone", "-H", "http://127.0.0.1:1", "LabUser", "--users", "3"}, "flags come first"},
		{[]string{"--source-addrs", "127.0.0.9-127.0.0.2"}, "--source-addrs"},
		{[]string{"--source-addrs", "192.0.2.7"}, "--source-addrs: 192.0.2.7 is not an address of this host"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(tt.args, &out, &errb)
		msg := errb.String()
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tt.want) {
			t.Errorf("boomer %v: exit %d, stderr %q; want exit 2 and one line with %q", tt.args, code, msg, tt.want)
		}
		if out.Len() != 0 {
			t.Errorf("boomer %v wrote to stdout: %q", tt.args, out.String())
		}
	}
}

func TestHelpNamesEveryFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help: exit %d, stderr %q", code, errb.String())
	}
	for _, f := range []string{"--master-host", "--master-port", "-H, --host", "--target-url", "--max-fds",
		"--max-rps", "--close", "--connect-timeout", "--response-timeout", "--loglevel", "--run-tasks", "--standalone", "--users", "--spawn-rate",
		"--run-time", "--max-body", "--cpuprofile", "--memprofile", "-f, --locustfile", "--python", "UserClass"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
}

func TestFlagsParse(t *testing.T) {
	cfg, err := parseFlags([]string{"--master-host=10.0.0.1", "--master-port", "6000", "-H", "http://127.0.0.1:9/",
		"--max-rps", "50", "--close", "--run-time", "90", "--loglevel", "debug"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.masterHost != "10.0.0.1" || cfg.masterPort != 6000 || cfg.host != "http://127.0.0.1:9/" ||
		cfg.maxRPS != 50 || !cfg.close || cfg.runTime != 90*time.Second {
		t.Errorf("parsed %+v", cfg)
	}
	if cfg.maxBody != 16<<20 {
		t.Errorf("--max-body defaults to %d, want 16 MiB", cfg.maxBody)
	}
	for in, want := range map[string]int64{"512k": 512 << 10, "1048576": 1 << 20, "1G": 1 << 30, "3M": 3 << 20} {
		if cfg, err := parseFlags([]string{"--max-body", in}); err != nil || cfg.maxBody != want {
			t.Errorf("--max-body %s: %v, %v; want %d", in, cfg, err, want)
		}
	}
	if cfg, err := parseFlags([]string{"--source-addrs", "127.0.0.2-127.0.0.4"}); err != nil || len(cfg.sources) != 3 {
		t.Errorf("--source-addrs 127.0.0.2-127.0.0.4: %v, %v", cfg, err)
	}
	if cfg, _ := parseFlags([]string{"--run-time", "1h30m"}); cfg.runTime != 90*time.Minute {
		t.Errorf("--run-time 1h30m = %v", cfg.runTime)
	}
}

func TestHostResolution(t *testing.T) {
	target := map[string]any{"target": "poll"}
	tests := []struct {
		template, fallback, spawnHost string
		parsed                        map[string]any
		want, wantErr                 string
	}{
		{"http://target-{model}:8080", "http://h:1", "http://spawn:2", target, "http://spawn:2", ""},
		{"http://target-{model}:8080", "http://h:1", "", target, "http://target-poll:8080", ""},
		{"http://target-{model}:8080", "http://h:1", "", nil, "http://h:1", ""},
		{"http://fixed:8080", "http://h:1", "", nil, "http://fixed:8080", ""},
		{"", "http://h:1", "", target, "http://h:1", ""},
		{"http://target-{model}:8080", "", "", map[string]any{"target": 3}, "", "no host"},
		{"", "", "", target, "", "no host"},
		{"", "", "not a url", target, "", "want http://"},
		{"", "http://h:1", "http://127.0.0.1:99999", target, "", "port 99999"},
		{"http://target-{model}:8080", "", "", map[string]any{"target": "x:9"}, "", "want"},
	}
	for _, tt := range tests {
		got, err := hostResolver(tt.template, tt.fallback)(tt.spawnHost, tt.parsed)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%+v: error %v, want one with %q", tt, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("%+v: got %q, %v; want %q", tt, got, err, tt.want)
		}
	}
}

func TestRunTasksDoesEachTaskOnce(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.RequestURI())
		if r.URL.Path == "/photo.jpg" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()

	var out, errb bytes.Buffer
	if code := run([]string{"--run-tasks", "BrowserUser", "-H", srv.URL, "-f", locustfile(t)}, &out, &errb); code != 1 {
		t.Errorf("BrowserUser with a missing /photo.jpg: exit %d, want 1; stderr %q", code, errb.String())
	}
	if got, want := strings.Join(paths, " "), "/ /style.css /app.js /photo.jpg"; got != want {
		t.Errorf("requested %q, want %q", got, want)
	}
	if !strings.Contains(out.String(), "GET /photo.jpg: FAILED") ||
		!strings.Contains(out.String(), "HTTPError('404 Client Error: Not Found for url: /photo.jpg')") {
		t.Errorf("output does not show the 404 as HttpUser names it:\n%s", out.String())
	}

	paths = nil
	out.Reset()
	if code := run([]string{"--run-tasks", "CPUUser", "-H", srv.URL, "-f", locustfile(t)}, &out, &errb); code != 0 {
		t.Errorf("CPUUser: exit %d, output %s", code, out.String())
	}
	if got := strings.Join(paths, " "); got != "/cpu?n=1000" {
		t.Errorf("CPUUser requested %q", got)
	}
}

// The master's timeout options win over the flags; without them, or with
// values no timeout can be, the flags apply.
func TestTimeoutsFromTheMasterWin(t *testing.T) {
	cfg, err := parseFlags([]string{"--connect-timeout", "0.25", "--response-timeout", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.connectTimeout != 250*time.Millisecond || cfg.responseTimeout != 3*time.Second {
		t.Fatalf("flags gave %v and %v", cfg.connectTimeout, cfg.responseTimeout)
	}
	tests := []struct {
		parsed map[string]any
		want   time.Duration
	}{
		{nil, 3 * time.Second},
		{map[string]any{"response_timeout": 0.5}, 500 * time.Millisecond},
		{map[string]any{"response_timeout": int64(2)}, 2 * time.Second},
		{map[string]any{"response_timeout": 0.0}, 0},
		{map[string]any{"response_timeout": -1.0}, 3 * time.Second},
		{map[string]any{"response_timeout": "10"}, 3 * time.Second},
	}
	for _, tt := range tests {
		if got := declared.TimeoutOption(tt.parsed, "response_timeout", cfg.responseTimeout); got != tt.want {
			t.Errorf("options %v: %v, want %v", tt.parsed, got, tt.want)
		}
	}
}

// The defaults are the locustfile's, so that a Go worker without a master
// gives up when a Python user would.
func TestTimeoutDefaultsAreTheLocustfiles(t *testing.T) {
	cfg, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "locustfile.py"))
	if err != nil {
		t.Fatal(err)
	}
	for flag, got := range map[string]time.Duration{"--connect-timeout": cfg.connectTimeout, "--response-timeout": cfg.responseTimeout} {
		m := regexp.MustCompile(`"` + flag + `",\s*type=float,\s*default=([0-9.]+),`).FindSubmatch(src)
		if m == nil {
			t.Errorf("locustfile.py has no float option %s with a default", flag)
			continue
		}
		want, _ := strconv.ParseFloat(string(m[1]), 64)
		if got != time.Duration(want*float64(time.Second)) {
			t.Errorf("%s: bin/boomer defaults to %v, locustfile.py to %ss", flag, got, m[1])
		}
	}
	if cfg.connectTimeout != 5*time.Second || cfg.responseTimeout != 10*time.Second {
		t.Errorf("defaults %v and %v, the README argues 5s and 10s", cfg.connectTimeout, cfg.responseTimeout)
	}
}

// A target announcing a body of 2^62 bytes: one failed request with a
// stable name, exit 1, no panic and no allocation of it.
func TestRunTasksRefusesAHugeBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387904\r\n\r\nxx"))
				}
			}()
		}
	}()
	var out, errb bytes.Buffer
	code := run([]string{"--run-tasks", "HammerUser", "-H", "http://" + ln.Addr().String(), "--max-body", "1M", "-f", locustfile(t)}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "ResponseTooLarge('Response body over 1048576 bytes (max body)')") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and ResponseTooLarge", code, out.String(), errb.String())
	}
}

// Users stopped at the end of the run time while their connects wait in
// a full backlog end with the run, not when the connect timeout does, and
// nothing is blamed on tasks ignoring User.Ctx.
func TestStandaloneStopsOnTimeWithDialsInFlight(t *testing.T) {
	addr := testbin.FullBacklog(t)
	var out, errb bytes.Buffer
	start := time.Now()
	code := run([]string{"--standalone", "-H", "http://" + addr, "--users", "20", "--spawn-rate", "1000",
		"--run-time", "1s", "--connect-timeout", "120", "--loglevel", "WARNING", "-f", locustfile(t)}, &out, &errb)
	took := time.Since(start)
	if code != 0 {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	if took > 30*time.Second {
		t.Errorf("a 1 s run took %s: its users waited out their connects", took.Round(time.Second))
	}
	if strings.Contains(errb.String(), "ignores User.Ctx") {
		t.Errorf("the stop blamed the tasks: %q", errb.String())
	}
}

// locustfile is the repository's locustfile.py.
func locustfile(t *testing.T) string {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "locustfile.py")
}

// Standalone runs the classes named, as Locust does, and exits 1 when a
// request failed; a class the locustfile lacks is refused.
func TestStandaloneRunsTheNamedClass(t *testing.T) {
	url, requested := countingServer(t)
	args := []string{"--standalone", "-H", url, "--users", "3", "--spawn-rate", "100", "--run-time", "1s",
		"--loglevel", "WARNING", "-f", locustfile(t)}
	var out, errb bytes.Buffer
	if code := run(append(args, "CPUUser"), &out, &errb); code != 0 {
		t.Errorf("CPUUser: exit %d, stderr %q", code, errb.String())
	}
	if paths := requested(); len(paths) != 1 || paths["/cpu?n=1000"] < 3 {
		t.Errorf("CPUUser's 3 users requested %v, want /cpu?n=1000 alone, at least once each", paths)
	}
	if !strings.Contains(out.String(), "/cpu?n=1000") {
		t.Errorf("no summary on stdout:\n%s", out.String())
	}

	args[2] = "http://" + testbin.RefusedAddr(t)
	out.Reset()
	if code := run(append(args, "LabUser"), &out, &errb); code != 1 || !strings.Contains(out.String(), "ConnectionRefusedError") {
		t.Errorf("refused LabUser: exit %d, want 1; stdout:\n%s", code, out.String())
	}

	errb.Reset()
	if code := run(append(args, "NoUser"), &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "unknown user class NoUser (the locustfile has ") {
		t.Errorf("NoUser: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"--run-tasks", "NoUser", "-H", url, "-f", locustfile(t)}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "no such user class") {
		t.Errorf("--run-tasks NoUser: exit %d, stderr %q", code, errb.String())
	}
}

// countingServer answers every request with 200 and counts them by
// request URI; requested returns the counts so far.
func countingServer(t *testing.T) (url string, requested func() map[string]int) {
	var mu sync.Mutex
	paths := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths[r.URL.RequestURI()]++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(paths)
	}
}

// A class with a fixed_count gets that many users first and the weighted
// classes share the rest, as Locust's dispatcher gives them: each user
// makes one on_start request, which names its class.
func TestStandaloneGivesFixedCountsFirst(t *testing.T) {
	url, requested := countingServer(t)
	file := filepath.Join(t.TempDir(), "locustfile.py")
	src := `from locust import constant
from serverlab_locust.declare import DeclaredUser, Task, get


class FixedUser(DeclaredUser):
    fixed_count = 1
    wait_time = constant(1)
    on_start_requests = [get("/start/fixed")]
    tasks = [Task(get("/fixed"))]


class OtherUser(DeclaredUser):
    wait_time = constant(1)
    on_start_requests = [get("/start/other")]
    tasks = [Task(get("/other"))]
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"--standalone", "-H", url, "--users", "4", "--spawn-rate", "100", "--run-time", "1s",
		"--loglevel", "WARNING", "-f", file}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if paths := requested(); paths["/start/fixed"] != 1 || paths["/start/other"] != 3 {
		t.Errorf("4 users started as %v, want 1 FixedUser and 3 OtherUsers", paths)
	}
}
