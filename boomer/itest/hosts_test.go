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
// Locust 2.47.0 master; the stats rows and failures CSVs must be the same.
func TestHostsAsPythonWorkers(t *testing.T) {
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
	}{
		{"a path", target + "/nope", nil, "GET /nope/: failed"},
		{"a query", target + "?a=1", nil, "GET /?a=1/: ok"},
		{"a trailing slash", target + "/", nil, "GET //: "},
		{"a redirect on the origin", redirects + "/same", nil, "GET /same/: ok"},
		{"a redirect to another origin", redirects + "/away", nil, "GET /away/: ok"},
		{"a redirect loop", redirects + "/loop", nil, "GET /loop/: failed"},
		{"https", tlsSrv.URL, trust, "GET /: ok"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := map[bool]string{}
			for _, python := range []bool{true, false} {
				r := run{locust: l, python: python, host: c.host, users: 1, runTime: "3s",
					class: "HammerUser", env: c.env}.do(t)
				got[python] = joinLines(rowsOf(t, r.prefix)) + "\n" + joinLines(texts(failures(t, r.prefix)))
			}
			if !strings.Contains(got[true], c.want) {
				t.Fatalf("the Python worker's rows lack %q:\n%s", c.want, got[true])
			}
			if got[true] != got[false] {
				t.Errorf("-H %s: the master recorded\nfrom a Python worker:\n%s\nfrom a Go worker:\n%s", c.host, got[true], got[false])
			}
			t.Logf("-H %s:\n%s", c.host, got[true])
		})
	}
}
