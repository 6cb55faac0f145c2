package locustcsv_test

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"serverlab/internal/locusts"
	"serverlab/internal/repo"
	"serverlab/lab/locustcsv"
)

//go:generate go test -run TestRealLocust -regen-fixtures .

// With -regen-fixtures the real runs below are written to lab/testdata as
// the fixtures every golden test reads; the goldens then need -update.
var regen = flag.Bool("regen-fixtures", false, "rewrite lab/testdata/locust-*/ from real Locust runs")

// fixtureRun is one headless Locust run standing in for one model.
type fixtureRun struct {
	name  string
	users int
	wait  string // seconds between a user's tasks
}

var fixtureRuns = []fixtureRun{
	{"epoll", 12, "0.02"},
	{"thread", 6, "0.05"},
	{"single", 3, "0.1"},
}

// fixtureServer answers like a small target: 200s, a slower 200 and a 500.
func fixtureServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		fmt.Fprintln(w, "slow")
	})
	mux.HandleFunc("/err", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// closedURL is a loopback URL nothing listens on, for ConnectionRefusedError.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/refused"
}

func findLocust(t *testing.T, which string) locusts.Locust {
	var l locusts.Locust
	var err error
	if which == "pinned" {
		l, err = locusts.Pinned()
	} else {
		l, err = locusts.Debian()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return l
}

// runLocust runs l headless for a few seconds and returns the CSV prefix.
func runLocust(t *testing.T, l locusts.Locust, host, refused, dir string, r fixtureRun) string {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(dir, r.name)
	cmd := exec.Command(l.Path,
		"-f", filepath.Join(root, "lab", "testdata", "fixture_locustfile.py"),
		"--headless", "-u", fmt.Sprint(r.users), "-r", fmt.Sprint(r.users), "-t", "5s",
		"--host", host, "--csv", prefix, "--csv-full-history",
		"--only-summary", "--exit-code-on-error", "0", "--loglevel", "WARNING")
	cmd.Env = append(os.Environ(), "FIXTURE_REFUSED_URL="+refused, "FIXTURE_WAIT="+r.wait)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", l.Path, r.name, err, out)
	}
	return prefix
}

// TestRealLocust checks the reader against what each supported Locust
// really writes, and makes the fixtures when asked to.
func TestRealLocust(t *testing.T) {
	for _, which := range []string{"pinned", "debian"} {
		t.Run(which, func(t *testing.T) {
			l := findLocust(t, which)
			srv := fixtureServer(t)
			refused := closedURL(t)
			runs := fixtureRuns[:1]
			dir := t.TempDir()
			if *regen {
				runs = fixtureRuns
				root, err := repo.Root()
				if err != nil {
					t.Fatal(err)
				}
				dir = filepath.Join(root, "lab", "testdata", "locust-"+l.Version)
				os.RemoveAll(dir)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range runs {
				prefix := runLocust(t, l, srv.URL, refused, dir, r)
				run, err := locustcsv.ReadRun(prefix)
				if err != nil {
					t.Fatal(err)
				}
				checkRealRun(t, run)
			}
		})
	}
}

func checkRealRun(t *testing.T, run *locustcsv.Run) {
	t.Helper()
	a := run.Aggregated
	if a.Requests < 10 || a.Failures == 0 || a.Failures >= a.Requests {
		t.Errorf("%s: %d requests, %d failures: want some of each", run.Name, a.Requests, a.Failures)
	}
	if a.RPS <= 0 || a.P95 < a.Median || a.Max+1 < a.P99 /* percentiles are rounded */ {
		t.Errorf("%s: implausible aggregate %+v", run.Name, a)
	}
	kinds := map[string]int{}
	for _, f := range run.Failures {
		kinds[locustcsv.Kind(f.Error)] += f.Occurrences
	}
	for _, k := range []string{locustcsv.KindEMFILE, locustcsv.KindRefused, locustcsv.KindHTTP5xx} {
		if kinds[k] == 0 {
			t.Errorf("%s: no %s failures among %v", run.Name, k, run.Failures)
		}
	}
	var sum int
	for _, n := range kinds {
		sum += n
	}
	if sum != a.Failures {
		t.Errorf("%s: failures.csv sums to %d, stats.csv says %d", run.Name, sum, a.Failures)
	}
}
