package itest

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// redirecting serves the redirect cases: a 301 on its origin, a 302 to
// another origin, and a loop; /ok and the other origin's / answer.
func redirecting(t *testing.T) string {
	t.Helper()
	far := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("far"))
	}))
	t.Cleanup(far.Close)
	near := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same/":
			http.Redirect(w, r, "/ok", http.StatusMovedPermanently)
		case "/away/":
			http.Redirect(w, r, far.URL+"/", http.StatusFound)
		case "/loop/":
			http.Redirect(w, r, "/loop/", http.StatusFound)
		case "/ok":
			w.Write([]byte("ok"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(near.Close)
	return near.URL
}

// rowsOf is a stats CSV's rows as "METHOD NAME: outcome", outcome "ok",
// "failed" or "mixed", sorted, the Aggregated row left out.
func rowsOf(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	for _, r := range csvRows(t, prefix+"_stats.csv") {
		if r["Name"] == "Aggregated" {
			continue
		}
		n, _ := strconv.Atoi(r["Request Count"])
		f, _ := strconv.Atoi(r["Failure Count"])
		outcome := "mixed"
		switch {
		case n == 0:
			outcome = "none"
		case f == 0:
			outcome = "ok"
		case f == n:
			outcome = "failed"
		}
		out = append(out, r["Type"]+" "+r["Name"]+": "+outcome)
	}
	sort.Strings(out)
	return out
}

// A host is used as Locust's HttpUser uses it: its path, query and
// trailing slash joined to each request's path, redirects followed (one
// row, under the first URL), https spoken with the certificate checked.
// Each case runs a Python worker and then a Go worker under their own
// Locust 2.47.0 master (two under Debian's 2.12.1, with PyPI's 2.12.1 as
// the Python worker); the stats rows and failures CSVs must be the same.
func hostsAsPythonWorkers(t *testing.T) {
	t.Parallel()
	l := testbin.Locust(t, locusts.Pinned)
	target := startTarget(t)
	redirects := redirecting(t)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("secret"))
	}))
	t.Cleanup(tlsSrv.Close)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	trust := []string{"REQUESTS_CA_BUNDLE=" + bundle}

	cases := []struct {
		name, host string
		env        []string
		want       string // a row both must show
		debian     bool   // under Debian's 2.12.1 master, with PyPI's 2.12.1 as Python worker
	}{
		{"a path", target + "/nope", nil, "GET /nope/: failed", false},
		{"a query", target + "?a=1", nil, "GET /?a=1/: ok", false},
		{"a trailing slash", target + "/", nil, "GET //: ", false},
		{"a redirect on the origin", redirects + "/same", nil, "GET /same/: ok", false},
		{"a redirect to another origin", redirects + "/away", nil, "GET /away/: ok", false},
		{"a redirect loop", redirects + "/loop", nil, "GET /loop/: failed", false},
		{"https", tlsSrv.URL, trust, "GET /: ok", false},
		{"a path, 2.12.1", target + "/nope", nil, "GET /nope/: failed", true},
		{"a redirect, 2.12.1", redirects + "/same", nil, "GET /same/: ok", true},
	}
	debian := testbin.Locust(t, locusts.Debian)
	debianWorkers := testbin.Locust(t, locusts.DebianWorkers)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			busy.Join(t) // HammerUsers
			got := map[bool]string{}
			for _, python := range []bool{true, false} {
				r := run{locust: l, python: python, host: c.host, users: 1, runTime: "3s",
					class: "HammerUser", env: c.env}
				if c.debian {
					r.locust, r.workers = debian, debianWorkers
				}
				res := r.do(t)
				got[python] = joinLines(rowsOf(t, res.prefix)) + "\n" + joinLines(texts(failures(t, res.prefix)))
			}
			if !strings.Contains(got[true], c.want) {
				t.Fatalf("the Python worker's rows lack %q:\n%s", c.want, got[true])
			}
			if c.debian && strings.Contains(got[true], "HTTPError(") {
				// 2.12.1's HttpUser names the whole URL after "for url:",
				// 2.47.0's and the Go worker the request's name.
				origin := strings.TrimSuffix(c.host, "/nope")
				if !strings.Contains(got[true], "for url: "+origin+"/") {
					t.Errorf("2.12.1's Python worker no longer writes the whole URL in HTTPError:\n%s", got[true])
				}
				got[true] = strings.ReplaceAll(got[true], "for url: "+origin+"/", "for url: /")
			}
			if got[true] != got[false] {
				t.Errorf("-H %s: the master recorded\nfrom a Python worker:\n%s\nfrom a Go worker:\n%s", c.host, got[true], got[false])
			}
			t.Logf("-H %s:\n%s", c.host, got[true])
		})
	}
}
