package serverlablocust

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// declaredShop and handShop are one user class, declared and written by
// hand as a Locust user would: the same requests, names, weights, wait,
// tags and expected statuses.
const declaredShop = `
from locust import constant
from serverlab_locust.declare import Counter, DeclaredUser, Request, Task, get


class ShopperUser(DeclaredUser):
    wait_time = constant(0.02)
    values = {"n": Counter()}
    on_start_requests = [get("/app.js", name="start")]
    tasks = [
        Task(get("/"), weight=3),
        Task([Request("POST", "/cart", json={"user": "u{n}"}),
              get("/gone/{n}", name="/gone", expect=[404]),
              get("/style.css", query={"v": "{n}"}, expect=[500])], tags=["shop"]),
    ]
`

const handShop = `
import itertools

from locust import HttpUser, constant, tag, task

numbers = itertools.count(1)


class ShopperUser(HttpUser):
    wait_time = constant(0.02)

    def on_start(self):
        self.n = next(numbers)
        self.client.get("/app.js", name="start")

    @task(3)
    def home(self):
        self.client.get("/")

    @tag("shop")
    @task
    def shop(self):
        self.client.post("/cart", json={"user": f"u{self.n}"})
        with self.client.get(f"/gone/{self.n}", name="/gone", catch_response=True) as r:
            if r.status_code == 404:
                r.success()
            else:
                r.failure(f"status {r.status_code}, expected 404")
        with self.client.get(f"/style.css?v={self.n}", name="/style.css?v={n}", catch_response=True) as r:
            if r.status_code == 500:
                r.success()
            else:
                r.failure(f"status {r.status_code}, expected 500")
`

// A declared class on a Python worker behaves as the class written by
// hand: the same stats rows with the same failures, and request shares
// within 5 points, on both Locust versions (standalone runners).
func TestDeclaredClassIsAnOrdinaryHttpUser(t *testing.T) {
	t.Parallel()
	tg := startTarget(t)
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			l := testbin.Locust(t, v.find)
			rows := map[string]map[string]float64{}
			failures := map[string]string{}
			prefixes := map[string]string{}
			dir := t.TempDir()
			t.Run("runs", func(t *testing.T) {
				for name, src := range map[string]string{"declared": declaredShop, "hand": handShop} {
					prefixes[name] = filepath.Join(dir, name)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						localRun(t, l, src, tg.site, prefixes[name])
					})
				}
			})
			if t.Failed() {
				return
			}
			totals := map[string]float64{}
			for name, prefix := range prefixes {
				rows[name], totals[name], failures[name] = shares(t, prefix)
			}
			d, h := rows["declared"], rows["hand"]
			if len(d) != len(h) || len(d) != 5 {
				t.Errorf("rows: declared %v, by hand %v", d, h)
			}
			// Within 5 points, or four standard deviations of a share
			// counted over this few requests on a busy machine.
			n := min(totals["declared"], totals["hand"])
			for k, share := range h {
				tol := max(0.05, 4*math.Sqrt(share*(1-share)/n))
				if ds, ok := d[k]; !ok || math.Abs(ds-share) > tol {
					t.Errorf("%s: declared %.3f of the requests, by hand %.3f (of %.0f and more)", k, ds, share, n)
				}
			}
			if failures["declared"] != failures["hand"] {
				t.Errorf("failures differ:\ndeclared:\n%s\nby hand:\n%s", failures["declared"], failures["hand"])
			}
		})
	}
}

// localRun runs the class in a headless standalone Locust, its CSVs
// written to prefix. Locust counts the run time from its start, which a
// busy machine can make take seconds, hence 8 s.
func localRun(t *testing.T, l locusts.Locust, src, host, prefix string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "shop.py")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, "locust "+l.Version, []string{"PYTHONPATH=" + testbin.Root(t)}, l.Path, "-f", file,
		"--headless", "-u", "5", "-r", "5", "-t", "8s", "-H", host, "--csv", prefix)
	if code := p.Wait(t, 60*time.Second); code != 0 && code != 1 {
		t.Fatalf("locust exited %d:\n%s", code, testbin.Tail(p.Out.String(), 20))
	}
}

// shares returns each stats row's share of the requests, the share failed
// in its name, the number of requests, and the failures CSV's rows.
func shares(t *testing.T, prefix string) (map[string]float64, float64, string) {
	t.Helper()
	_, rows := testbin.CSV(t, prefix+"_stats.csv")
	out := map[string]float64{}
	total := 0.0
	for _, r := range rows {
		if r["Name"] == "Aggregated" {
			total, _ = strconv.ParseFloat(r["Request Count"], 64)
		}
	}
	if total < 100 {
		t.Fatalf("%s: %v requests, too few to compare", prefix, total)
	}
	for _, r := range rows {
		n, _ := strconv.ParseFloat(r["Request Count"], 64)
		f, _ := strconv.ParseFloat(r["Failure Count"], 64)
		if r["Name"] != "Aggregated" && n > 0 {
			out[fmt.Sprintf("%s %s (%.0f%% failed)", r["Type"], r["Name"], 100*f/n)] = n / total
		}
	}
	_, frows := testbin.CSV(t, prefix+"_failures.csv")
	var fs []string
	for _, r := range frows {
		fs = append(fs, r["Method"]+" "+r["Name"]+" "+strings.Trim(r["Error"], `"`))
	}
	sort.Strings(fs)
	return out, total, strings.Join(fs, "\n")
}

// A locustfile that cannot be read is one line from the dump, not a
// traceback.
func TestDeclareDumpRefusesInOneLine(t *testing.T) {
	l := testbin.Locust(t, locusts.Pinned)
	file := filepath.Join(t.TempDir(), "broken.py")
	os.WriteFile(file, []byte("import nowhere_to_be_found\n"), 0o644)
	cmd := exec.Command(l.Python, "-m", "serverlab_locust.declare", file)
	cmd.Dir = testbin.Root(t)
	out, err := cmd.CombinedOutput()
	if err == nil || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 ||
		!strings.Contains(string(out), "ModuleNotFoundError") {
		t.Errorf("exit %v, output %q; want one line naming ModuleNotFoundError", err, out)
	}
}
