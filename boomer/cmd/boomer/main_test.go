package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

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
		{[]string{"--run-tasks", "NoUser", "-H", "http://127.0.0.1:1"}, "no such user class"},
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
		"--run-time", "--max-body", "--cpuprofile", "--memprofile", "LabUser", "CPUUser"} {
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
	if code := run([]string{"--run-tasks", "BrowserUser", "-H", srv.URL}, &out, &errb); code != 1 {
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
	if code := run([]string{"--run-tasks", "CPUUser", "-H", srv.URL}, &out, &errb); code != 0 {
		t.Errorf("CPUUser: exit %d, output %s", code, out.String())
	}
	if got := strings.Join(paths, " "); got != "/cpu?n=1000" {
		t.Errorf("CPUUser requested %q", got)
	}
}

// The Go classes must do what locustfile.py's do: same names, same
// requests, waits in the same range.
func TestClassesMatchTheLocustfile(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "locustfile.py"))
	if err != nil {
		t.Fatal(err)
	}
	py := parseLocustfile(string(src))
	classes := userClasses(httpOptionsFor(&config{}), nil)
	if got, want := strings.Join(classNames(classes), " "), strings.Join(py.order, " "); got != want {
		t.Fatalf("Go classes %q, locustfile.py classes %q", got, want)
	}

	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.RequestURI())
	}))
	defer srv.Close()
	for _, c := range classes {
		want := py.classes[c.Name]
		paths = nil
		var out, errb bytes.Buffer
		if code := run([]string{"--run-tasks", c.Name, "-H", srv.URL}, &out, &errb); code != 0 {
			t.Errorf("%s: exit %d: %s%s", c.Name, code, out.String(), errb.String())
		}
		if got := strings.Join(paths, " "); got != strings.Join(want.paths, " ") {
			t.Errorf("%s requests %q, locustfile.py %q", c.Name, got, want.paths)
		}
		lo, hi := time.Duration(want.waitMin*float64(time.Second)), time.Duration(want.waitMax*float64(time.Second))
		if c.Wait == nil {
			if hi != 0 {
				t.Errorf("%s: no wait, locustfile.py waits %v..%v", c.Name, lo, hi)
			}
			continue
		}
		seenLow, seenHigh := false, false
		for range 1000 {
			d := c.Wait(nil, time.Now())
			if d < lo || d > hi {
				t.Fatalf("%s waits %v, locustfile.py %v..%v", c.Name, d, lo, hi)
			}
			seenLow = seenLow || d < lo+(hi-lo)/4
			seenHigh = seenHigh || d > hi-(hi-lo)/4
		}
		if hi > lo && !(seenLow && seenHigh) {
			t.Errorf("%s: 1000 waits do not spread over %v..%v", c.Name, lo, hi)
		}
	}
}

type pyClass struct {
	paths            []string
	waitMin, waitMax float64
}

type pyClasses struct {
	order   []string
	classes map[string]pyClass
}

var (
	classRE = regexp.MustCompile(`(?m)^class (\w+)\(LabHttpUser\):`)
	waitRE  = regexp.MustCompile(`wait_time = (between|constant)\(([\d.]+)(?:, ([\d.]+))?\)`)
	pathRE  = regexp.MustCompile(`"(/[^"]*)"`)
)

// parseLocustfile reads the user classes of locustfile.py: their names,
// the paths their tasks request in order, and their wait_time.
func parseLocustfile(src string) pyClasses {
	pc := pyClasses{classes: map[string]pyClass{}}
	locs := classRE.FindAllStringSubmatchIndex(src, -1)
	for i, loc := range locs {
		end := len(src)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := src[loc[1]:end]
		if j := strings.Index(body, "\ndef "); j >= 0 {
			body = body[:j]
		}
		name := src[loc[2]:loc[3]]
		var c pyClass
		for _, m := range pathRE.FindAllStringSubmatch(body, -1) {
			c.paths = append(c.paths, m[1])
		}
		if m := waitRE.FindStringSubmatch(body); m != nil {
			c.waitMin, _ = strconv.ParseFloat(m[2], 64)
			c.waitMax = c.waitMin
			if m[1] == "between" {
				c.waitMax, _ = strconv.ParseFloat(m[3], 64)
			}
		}
		pc.order = append(pc.order, name)
		pc.classes[name] = c
	}
	return pc
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
		if got := timeoutOption(tt.parsed, "response_timeout", cfg.responseTimeout); got != tt.want {
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
	code := run([]string{"--run-tasks", "HammerUser", "-H", "http://" + ln.Addr().String(), "--max-body", "1M"}, &out, &errb)
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
		"--run-time", "1s", "--connect-timeout", "120", "--loglevel", "WARNING"}, &out, &errb)
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
