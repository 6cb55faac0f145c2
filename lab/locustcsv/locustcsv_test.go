package locustcsv_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"serverlab/lab/locustcsv"
)

const fixtures = "../testdata"

// Both supported Locust versions' real output reads the same way.
func TestReadFixtures(t *testing.T) {
	for _, ver := range []string{"2.12.1", "2.47.0"} {
		prefixes, err := locustcsv.Discover(filepath.Join(fixtures, "locust-"+ver))
		if err != nil {
			t.Fatal(err)
		}
		if len(prefixes) != 3 {
			t.Fatalf("%s: %d prefixes, want 3", ver, len(prefixes))
		}
		for _, p := range prefixes {
			run, err := locustcsv.ReadRun(p)
			if err != nil {
				t.Fatal(err)
			}
			checkRealRun(t, run)
			if len(run.Entries) != 5 {
				t.Errorf("%s: %d entries, want /emfile /err /ok /refused /slow", p, len(run.Entries))
			}
			if len(run.Aggregated.Percentiles) != 11 || run.Aggregated.Percentiles[5].Label != "95%" || run.Aggregated.Percentiles[5].Value != run.Aggregated.P95 {
				t.Errorf("%s: percentiles %+v", p, run.Aggregated.Percentiles)
			}
		}
	}
}

// Debian's 2.12.1 writes only the all-zero first history row: one point,
// its percentiles N/A.
func TestHistoryFirstRowOnly(t *testing.T) {
	h, err := locustcsv.ReadHistory(filepath.Join(fixtures, "locust-2.12.1", "epoll_stats_history.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].RPS != 0 || !math.IsNaN(h[0].P95) || h[0].Time == 0 {
		t.Fatalf("history %+v", h)
	}
	h, err = locustcsv.ReadHistory(filepath.Join(fixtures, "locust-2.47.0", "epoll_stats_history.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(h) < 3 || h[len(h)-1].RPS == 0 || math.IsNaN(h[len(h)-1].P95) {
		t.Fatalf("2.47.0 history %+v", h)
	}
}

// copyRun copies a fixture run into a temporary folder as "m".
func copyRun(t *testing.T) (dir string) {
	dir = t.TempDir()
	for _, s := range []string{locustcsv.StatsSuffix, locustcsv.HistorySuffix, locustcsv.FailuresSuffix} {
		b, err := os.ReadFile(filepath.Join(fixtures, "locust-2.47.0", "thread"+s))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "m"+s), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func edit(t *testing.T, path string, f func(string) string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(f(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	S, H, F := locustcsv.StatsSuffix, locustcsv.HistorySuffix, locustcsv.FailuresSuffix
	lines := func(s string) []string { return strings.SplitAfter(s, "\n") }
	tests := []struct {
		name string
		file string
		edit func(string) string // nil: remove the file
		want string
	}{
		{"missing stats", S, nil, "m_stats.csv: missing"},
		{"missing history", H, nil, "m_stats_history.csv: missing"},
		{"missing failures", F, nil, "m_failures.csv: missing"},
		{"empty stats", S, func(string) string { return "" }, "m_stats.csv: empty file"},
		{"header only", S, func(s string) string { return lines(s)[0] }, "m_stats.csv: no Aggregated row"},
		{"truncated last row", S, func(s string) string { return s[:len(s)-60] },
			"m_stats.csv:7: 10 fields, the header has 22 (truncated row?)"},
		{"truncated history", H, func(s string) string { return s[:len(s)-100] }, "m_stats_history.csv:"},
		{"other header", S, func(s string) string { return strings.Replace(s, "Request Count", "Requests", 1) },
			`m_stats.csv:1: no "Request Count" column`},
		{"no 95% column", H, func(s string) string { return strings.Replace(s, ",95%,", ",95.5%,", 1) },
			`m_stats_history.csv:1: no "95%" column`},
		{"failures header", F, func(s string) string { return strings.Replace(s, "Occurrences", "Count", 1) },
			`m_failures.csv:1: no "Occurrences" column`},
		{"not a number", S, func(s string) string { return strings.Replace(s, ",Aggregated,", ",Aggregated,x", 1) },
			`m_stats.csv:7: Request Count "x414" is not a whole number`},
		{"bad occurrences", F, func(s string) string { return setField(s, "/err", 3, "-3") },
			`m_failures.csv:2: Occurrences "-3" is negative`},
		{"open quote", F, func(s string) string { return s + "GET,\"/x,oops,1\n" }, "m_failures.csv:"},
		{"empty run", S, func(s string) string {
			l := lines(s)
			return l[0] + ",Aggregated,0,0,0,0.0,0,0,0.0,0.0,0.0,0,0,0,0,0,0,0,0,0,0,0\n"
		}, "m_stats.csv: empty run"},
		{"more failures than requests", S, func(s string) string { return setField(s, "/err", 3, "999999") },
			"failures out of"},
		{"history back in time", H, func(s string) string {
			l := lines(s)
			return l[0] + strings.Replace(l[1], "17", "19", 1) + l[1]
		}, "goes back in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyRun(t)
			path := filepath.Join(dir, "m"+tt.file)
			if tt.edit == nil {
				os.Remove(path)
			} else {
				edit(t, path, tt.edit)
			}
			_, err := locustcsv.ReadRun(filepath.Join(dir, "m"))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q, want one line containing %q", msg, tt.want)
			}
		})
	}
}

// setField sets field i of the row whose Name is name. Only for rows
// without quoted commas before field i.
func setField(s, name string, i int, v string) string {
	var out []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if f := strings.Split(l, ","); len(f) > i && f[1] == name {
			f[i] = v
			l = strings.Join(f, ",")
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}

func TestDiscover(t *testing.T) {
	dir := copyRun(t)
	for _, arg := range []string{dir, filepath.Join(dir, "m"), filepath.Join(dir, "m_stats.csv")} {
		got, err := locustcsv.Discover(arg)
		if err != nil || len(got) != 1 || got[0] != filepath.Join(dir, "m") {
			t.Errorf("Discover(%s) = %v, %v", arg, got, err)
		}
	}
	for arg, want := range map[string]string{
		t.TempDir():                "no *_stats.csv in this folder",
		filepath.Join(dir, "nope"): "no such folder",
		filepath.Join(dir, "m_st"): "no such folder",
	} {
		if _, err := locustcsv.Discover(arg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Discover(%s) error %v, want %q", arg, err, want)
		}
	}
}

func TestKind(t *testing.T) {
	// Locust's HttpUser and the Go worker (boomer/httpuser) spell them so.
	tests := map[string]string{
		"ConnectionRefusedError(111, 'Connection refused')":                                                                    locustcsv.KindRefused,
		"OSError(24, 'Too many open files')":                                                                                   locustcsv.KindEMFILE,
		"OSError(23, 'Too many open files in system')":                                                                         locustcsv.KindENFILE,
		"ConnectionResetError(104, 'Connection reset by peer')":                                                                locustcsv.KindReset,
		"BrokenPipeError(32, 'Broken pipe')":                                                                                   locustcsv.KindReset,
		"OSError(99, 'Cannot assign requested address')":                                                                       locustcsv.KindPorts,
		"TimeoutError(110, 'Connection timed out')":                                                                            locustcsv.KindTimeout,
		"RemoteDisconnected('Remote end closed connection without response')":                                                  locustcsv.KindClosed,
		"HTTPError('404 Client Error: Not Found for url: /missing')":                                                           locustcsv.KindHTTP4xx,
		"HTTPError('503 Server Error: Service Unavailable for url: /')":                                                        locustcsv.KindHTTP5xx,
		`ReadTimeout(ReadTimeoutError("HTTPConnectionPool(host='127.0.0.1', port=8080): Read timed out. (read timeout=0.5)"))`: locustcsv.KindTimeout,
		"ConnectionError(MaxRetryError(\"HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: / (Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused'))\"))": locustcsv.KindRefused,
		"CatchResponseError('Got wrong body')": locustcsv.KindOther,
	}
	for msg, want := range tests {
		if got := locustcsv.Kind(msg); got != want {
			t.Errorf("Kind(%s) = %s, want %s", msg, got, want)
		}
	}
}
