package itest

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// plainUser is Python code: Go workers name it and run the others.
const plainUser = `

from locust import HttpUser, task


class PlainUser(HttpUser):
    wait_time = constant(0.5)

    @task
    def index(self):
        self.client.get("/")
`

// readmeShop is the README's example of a declared class, a class no Go
// code knows: two weighted tasks, a POST with a JSON body (the target
// refuses it: 405, a failure), an on_start request, a tagged task and an
// expected 404 counted as success.
func readmeShop(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbin.Root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "<!-- doc: covered by boomer/itest/declared_test.go TestDeclaredClassRunsAlikeOnGoAndPythonWorkers") {
			continue
		}
		var src []string
		for _, l := range lines[i+2:] {
			if l != "" && !strings.HasPrefix(l, "    ") {
				break
			}
			src = append(src, strings.TrimPrefix(l, "    "))
		}
		if !strings.Contains(strings.Join(src, "\n"), "class ShopperUser(DeclaredUser):") {
			t.Fatalf("README.md:%d: the block is not ShopperUser's", i+3)
		}
		return strings.Join(src, "\n")
	}
	t.Fatal("README.md has no example of a declared class")
	return ""
}

// writeShop writes the locustfile into a folder of its own and returns
// its path and the environment that lets Locust import serverlab_locust.
func writeShop(t *testing.T) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.py")
	if err := os.WriteFile(path, []byte(readmeShop(t)+plainUser), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, []string{"PYTHONPATH=" + testbin.Root(t)}
}

// shopRun runs a headless master of l on the locustfile with one worker
// (Go, or a Python worker of the pinned Locust) and returns the CSV
// prefix.
func shopRun(t *testing.T, l locusts.Locust, python bool, target, prefix string, args ...string) {
	t.Helper()
	file, env := writeShop(t)
	port := testbin.FreePort(t)
	if python {
		testbin.Start(t, "python worker", env, l.Path, "-f", file, "--worker",
			"--master-host", "127.0.0.1", "--master-port", strconv.Itoa(port))
	} else {
		startWorker(t, port)
	}
	master := testbin.Start(t, "master "+l.Version, env, l.Path, append([]string{"-f", file,
		"--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", strconv.Itoa(port),
		"--headless", "--expect-workers", "1", "--csv", prefix, "-H", target,
		"-u", "10", "-r", "10", "-t", "4s"}, args...)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("master:\n%s", testbin.Tail(master.Out.String(), 30))
		}
	})
	// 1: some requests failed, as the POST does.
	if code := master.Wait(t, 90*time.Second); code != 0 && code != 1 {
		t.Fatalf("master exited %d", code)
	}
}

// row is one stats row as compared: its share of the requests and of
// them the share failed.
type row struct {
	share, failed float64
	n             int
}

func statsRows(t *testing.T, prefix string) map[string]row {
	t.Helper()
	rows := map[string]row{}
	total := 0
	for _, r := range csvRows(t, prefix+"_stats.csv") {
		n, _ := strconv.Atoi(r["Request Count"])
		f, _ := strconv.Atoi(r["Failure Count"])
		if r["Name"] == "Aggregated" {
			total = n
			continue
		}
		if n > 0 {
			rows[r["Type"]+" "+r["Name"]] = row{failed: float64(f) / float64(n), n: n}
		}
	}
	if total == 0 {
		t.Fatalf("%s: no requests", prefix)
	}
	for k, r := range rows {
		r.share = float64(r.n) / float64(total)
		rows[k] = r
	}
	return rows
}

// requestsIn is the number of requests in rows.
func requestsIn(rows map[string]row) float64 {
	n := 0
	for _, r := range rows {
		n += r.n
	}
	return float64(n)
}

// shareTolerance is how far two runs' shares of one row may differ: 5
// points, or four standard deviations of the difference when a few
// thousand requests cannot promise that (each task is drawn at random).
func shareTolerance(share, n1, n2 float64) float64 {
	return max(0.05, 4*math.Sqrt(share*(1-share)*(1/n1+1/n2)))
}

func failureRows(t *testing.T, prefix string) string {
	var out []string
	for _, r := range csvRows(t, prefix+"_failures.csv") {
		out = append(out, r["Method"]+" "+r["Name"]+" "+strings.Trim(r["Error"], `"`))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func describeRows(rows map[string]row) string {
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %d requests, %.1f%% of all, %.0f%% failed; ", k, rows[k].n, 100*rows[k].share, 100*rows[k].failed)
	}
	return b.String()
}

// A new locustfile's declared class runs on Go workers of both Locust
// versions as on a Python worker: the same stats rows, each failing
// all or none alike, request shares within 5 points (or four standard
// deviations), and (on the same master version) the same failures.
func TestDeclaredClassRunsAlikeOnGoAndPythonWorkers(t *testing.T) {
	t.Parallel()
	target := startTarget(t)
	dir := t.TempDir()
	runs := map[string]string{}
	t.Run("runs", func(t *testing.T) {
		for _, r := range []struct {
			name   string
			find   func() (locusts.Locust, error)
			python bool
		}{{"go-pinned", locusts.Pinned, false}, {"go-debian", locusts.Debian, false}, {"python-pinned", locusts.Pinned, true}} {
			runs[r.name] = filepath.Join(dir, r.name)
			t.Run(r.name, func(t *testing.T) {
				t.Parallel()
				waiting.Join(t)
				shopRun(t, testbin.Locust(t, r.find), r.python, target, runs[r.name], "ShopperUser")
			})
		}
	})
	if t.Failed() {
		return
	}
	py := statsRows(t, runs["python-pinned"])
	pyTotal := requestsIn(py)
	t.Logf("Python worker: %s", describeRows(py))
	want := map[string]float64{"GET start": 0, "GET /": 0, "POST /cart": 1, "GET /gone": 0}
	for k, failed := range want {
		if r, ok := py[k]; !ok || r.failed != failed {
			t.Errorf("Python worker: row %s %+v, want failed %v: %s", k, r, failed, describeRows(py))
		}
	}
	if len(py) != len(want) {
		t.Errorf("Python worker rows: %s", describeRows(py))
	}
	for _, name := range []string{"go-pinned", "go-debian"} {
		gr := statsRows(t, runs[name])
		t.Logf("%s: %s", name, describeRows(gr))
		if len(gr) != len(py) {
			t.Errorf("%s rows: %s\nPython worker: %s", name, describeRows(gr), describeRows(py))
		}
		for k, p := range py {
			g, ok := gr[k]
			switch {
			case !ok:
				t.Errorf("%s has no row %s", name, k)
			case g.failed != p.failed:
				t.Errorf("%s: %s %.0f%% failed, Python worker %.0f%%", name, k, 100*g.failed, 100*p.failed)
			case k != "GET start" && math.Abs(g.share-p.share) > shareTolerance(p.share, pyTotal, requestsIn(gr)):
				t.Errorf("%s: %s is %.1f%% of the requests, %.1f%% with a Python worker", name, k, 100*g.share, 100*p.share)
			}
		}
	}
	if g, p := failureRows(t, runs["go-pinned"]), failureRows(t, runs["python-pinned"]); g != p {
		t.Errorf("failures differ on the pinned master:\nGo worker:\n%s\nPython worker:\n%s", g, p)
	}
}

// --tags and --exclude-tags reach Go workers from both masters: only the
// tasks they leave run (on_start runs whatever they say), and a class
// left without tasks raises Locust's exception instead of requests.
func TestTagsOnGoWorkers(t *testing.T) {
	t.Parallel()
	target := startTarget(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"tags", []string{"--tags", "shop"}, "GET /gone,GET start,POST /cart"},
		{"exclude", []string{"--exclude-tags", "shop"}, "GET /,GET start"},
		{"none-left", []string{"--tags", "nothing"}, "GET start"},
	}
	for _, v := range versions {
		for _, c := range cases {
			t.Run(v.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				waiting.Join(t)
				prefix := filepath.Join(t.TempDir(), "run")
				shopRun(t, testbin.Locust(t, v.find), false, target, prefix, append(c.args, "ShopperUser")...)
				rows := statsRows(t, prefix)
				var names []string
				for k := range rows {
					names = append(names, k)
				}
				sort.Strings(names)
				if got := strings.Join(names, ","); got != c.want {
					t.Errorf("rows %s, want %s", got, c.want)
				}
				excs, _ := os.ReadFile(prefix + "_exceptions.csv")
				noTasks := strings.Contains(string(excs), "No tasks defined on ShopperUser")
				if noTasks != (c.name == "none-left") {
					t.Errorf("exceptions:\n%s", excs)
				}
			})
		}
	}
}

// A class of Python code is named, with the reason, in the Go worker's
// log, in the master's log and, when the master gives the worker users of
// it, in its exceptions; the worker runs the declared class meanwhile.
func TestGoWorkerNamesTheClassItCannotRun(t *testing.T) {
	t.Parallel()
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			waiting.Join(t)
			l := testbin.Locust(t, v.find)
			target := startTarget(t)
			file, env := writeShop(t)
			port := testbin.FreePort(t)
			prefix := filepath.Join(t.TempDir(), "run")
			worker := startWorker(t, port)
			master := testbin.Start(t, "master "+l.Version, env, l.Path, "-f", file,
				"--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", strconv.Itoa(port),
				"--headless", "--expect-workers", "1", "--csv", prefix, "-H", target, "-u", "4", "-r", "4", "-t", "3s")
			master.Wait(t, 90*time.Second)
			const why = "PlainUser (not a DeclaredUser: its tasks are Python code)"
			if !strings.Contains(worker.Out.String(), why) {
				t.Errorf("the worker's log does not name PlainUser and why:\n%s", testbin.Tail(worker.Out.String(), 20))
			}
			if !strings.Contains(master.Out.String(), "runs ShopperUser; it cannot run "+why) {
				t.Errorf("the master's log does not name PlainUser and why:\n%s", testbin.Tail(master.Out.String(), 20))
			}
			excs, _ := os.ReadFile(prefix + "_exceptions.csv")
			if !strings.Contains(string(excs), "user class PlainUser cannot run on a Go worker: not a DeclaredUser") {
				t.Errorf("exceptions:\n%s", excs)
			}
			if rows := statsRows(t, prefix); rows["GET /"].n == 0 {
				t.Errorf("ShopperUser did not run: %s", describeRows(rows))
			}
		})
	}
}

// A master restarted with a changed locustfile gives the Go worker its
// new classes; the old class's users stop, and only the new class's
// requests reach the new master.
func TestRestartedMasterSendsItsNewClasses(t *testing.T) {
	t.Parallel()
	waiting.Join(t)
	l := testbin.Locust(t, locusts.Pinned)
	target := startTarget(t)
	port := testbin.FreePort(t)
	env := []string{"PYTHONPATH=" + testbin.Root(t)}
	master := func(class, name string, args ...string) (*proc, string) {
		file := filepath.Join(t.TempDir(), "locustfile.py")
		src := fmt.Sprintf(`
from locust import constant
from serverlab_locust.declare import DeclaredUser, Task, get


class %s(DeclaredUser):
    wait_time = constant(0.05)
    tasks = [Task(get("/", name=%q))]
`, class, name)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		prefix := filepath.Join(t.TempDir(), "run")
		return testbin.Start(t, "master "+class, env, l.Path, append([]string{"-f", file,
			"--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", strconv.Itoa(port),
			"--headless", "--expect-workers", "1", "--csv", prefix, "-H", target, "-u", "2", "-r", "2"}, args...)...), prefix
	}
	worker := startWorker(t, port)
	first, _ := master("FirstUser", "first", "-t", "60s")
	if !worker.Out.WaitFor(`classes=FirstUser`, 60*time.Second) {
		t.Fatalf("the worker did not get FirstUser:\n%s", worker.Out.String())
	}
	time.Sleep(2 * time.Second) // FirstUser's users run
	first.Signal(9)
	first.Wait(t, 20*time.Second)
	second, prefix := master("SecondUser", "second", "-t", "4s")
	second.Wait(t, 90*time.Second)
	if !strings.Contains(worker.Out.String(), `classes=SecondUser`) {
		t.Errorf("the worker did not get SecondUser:\n%s", testbin.Tail(worker.Out.String(), 20))
	}
	rows := statsRows(t, prefix)
	if rows["GET second"].n == 0 || len(rows) != 1 {
		t.Errorf("the new master recorded %s; want only SecondUser's requests", describeRows(rows))
	}
}
