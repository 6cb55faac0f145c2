package serverlablocust

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"serverlab/internal/launch"
	"serverlab/internal/testbin"
)

// targetStats is GET /target/stats.
type targetStats struct {
	Target    string   `json:"target"`
	AdminURL  string   `json:"admin_url"`
	Running   bool     `json:"running"`
	SampledAt *float64 `json:"sampled_at"`
	Answered  bool     `json:"answered"`
	Error     *string  `json:"error"`
	Samples   int      `json:"samples"`
	Figures   *struct {
		OpenFDs           *float64 `json:"open_fds"`
		MaxFDs            *float64 `json:"max_fds"`
		EMFILE            *float64 `json:"emfile"`
		OtherAcceptErrors *float64 `json:"other_accept_errors"`
		Active            *float64 `json:"connections_active"`
		Accepted          *float64 `json:"connections_accepted"`
		Threads           *float64 `json:"threads"`
	} `json:"figures"`
	Rows []tabRow `json:"rows"`
}

type tabRow struct{ Name, Value, Rate string }

func (s targetStats) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

func num(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

// csvColumns are PREFIX_target.csv's columns, in order: what the README
// documents.
var csvColumns = []string{"Timestamp", "Target", "Admin URL", "Answered", "Error",
	"Open FDs", "Max FDs", "EMFILE", "Other Accept Errors", "Connections Shed",
	"Active Connections", "Accepted Connections", "Threads", "Child Processes",
	"RSS Bytes", "CPU %"}

var templateArgsRE = regexp.MustCompile(`window\.templateArgs = (.*)`)

// The React UI (pinned Locust) receives the Target tab, its table and its
// CSV link in the template args, and the form shows --target-admin-url
// with the master's value.
func checkTemplateArgs(t *testing.T, web, adminURL string) {
	t.Helper()
	page, err := get(web + "/")
	if err != nil {
		t.Fatal(err)
	}
	m := templateArgsRE.FindSubmatch(page)
	if m == nil {
		t.Fatalf("GET /: no window.templateArgs:\n%.500s", page)
	}
	var args struct {
		Tabs   []map[string]string `json:"extended_tabs"`
		Tables []struct {
			Key       string              `json:"key"`
			Structure []map[string]string `json:"structure"`
		} `json:"extended_tables"`
		CSVFiles []map[string]string `json:"extended_csv_files"`
		Extra    map[string]struct {
			Default any `json:"default_value"`
		} `json:"extra_options"`
	}
	if err := json.Unmarshal(m[1], &args); err != nil {
		t.Fatalf("template args: %v\n%.500s", err, m[1])
	}
	if !slices.ContainsFunc(args.Tabs, func(tab map[string]string) bool {
		return tab["key"] == "target" && tab["title"] == "Target"
	}) {
		t.Errorf("extended_tabs %v has no Target tab", args.Tabs)
	}
	var cols []string
	for _, tb := range args.Tables {
		if tb.Key == "target" {
			for _, c := range tb.Structure {
				cols = append(cols, c["key"])
			}
		}
	}
	if !slices.Equal(cols, []string{"name", "value", "rate"}) {
		t.Errorf("extended_tables for the Target tab: columns %q", cols)
	}
	if !slices.ContainsFunc(args.CSVFiles, func(f map[string]string) bool { return f["href"] == "./target/csv" }) {
		t.Errorf("extended_csv_files %v has no ./target/csv", args.CSVFiles)
	}
	if o, ok := args.Extra["target_admin_url"]; !ok || o.Default != adminURL {
		t.Errorf("the form's target_admin_url is %+v (present %v), want %q", o, ok, adminURL)
	}
}

// tabRows is the Target tab's table as the React UI polls it: the
// extended_stats of /stats/requests.
func tabRows(web string) ([]tabRow, error) {
	var r struct {
		Extended []struct {
			Key  string   `json:"key"`
			Data []tabRow `json:"data"`
		} `json:"extended_stats"`
	}
	if err := getJSON(web+"/stats/requests", &r); err != nil {
		return nil, err
	}
	for _, e := range r.Extended {
		if e.Key == "target" {
			return e.Data, nil
		}
	}
	return nil, fmt.Errorf("no target in extended_stats: %+v", r.Extended)
}

func rowValue(rows []tabRow, prefix string) string {
	for _, r := range rows {
		if strings.HasPrefix(r.Name, prefix) {
			return r.Value
		}
	}
	return ""
}

// A target with 64 descriptors and more LabUsers than it can hold, run
// from the web UI: while it runs, the UI's own routes show the target's
// descriptors filling up to the limit and its accept() failing with EMFILE.
// Then a run whose admin URL nobody answers shows that, not zeros.
func TestWebUIShowsTheTargetRunningOut(t *testing.T) {
	t.Parallel()
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			l := testbin.Locust(t, v.find)
			tg := startTarget(t, "--max-fds", "64")
			port, webPort := testbin.FreePort(t), testbin.FreePort(t)
			// The command line's admin URL answers nothing: the form's must win.
			const flagURL = "http://127.0.0.1:1"
			master := startMaster(t, l, nil, port, "--target-admin-url", flagURL,
				"--web-host", "127.0.0.1", "--web-port", strconv.Itoa(webPort), "--class-picker")
			startWorker(t, port)
			web := fmt.Sprintf("http://127.0.0.1:%d", webPort)
			master.Await(t, 30*time.Second, launch.Answers(web+"/"), launch.WorkersConnected(1))
			var before targetStats
			if err := getJSON(web+"/target/stats", &before); err != nil {
				t.Fatal(err)
			}
			if before.Running || before.Samples != 0 || before.SampledAt != nil || before.Figures != nil {
				t.Errorf("before any run: %v", before)
			}
			if page, err := get(web + "/target"); err != nil || !strings.Contains(string(page), "<title>Target") {
				t.Errorf("GET /target: %v %.200s", err, page)
			}
			react := v.name == "pinned"
			if react {
				checkTemplateArgs(t, web, flagURL)
			}

			// Slowly enough (5 users a second) that descriptors are sampled
			// on their way to the limit, whatever the target can count once
			// it has none left.
			post(t, web+"/swarm", url.Values{
				"user_count": {"120"}, "spawn_rate": {"5"}, "host": {tg.site},
				"user_classes": {"LabUser"}, "target": {"epoll"}, "target_admin_url": {tg.admin}})
			var peak float64
			eventually(t, 60*time.Second, "EMFILE and open fds near 64 in /target/stats", func() (bool, string) {
				var s targetStats
				if err := getJSON(web+"/target/stats", &s); err != nil {
					return false, err.Error()
				}
				if !s.Running || !s.Answered || s.Figures == nil || s.AdminURL != tg.admin || s.Target != "epoll" {
					return false, s.String()
				}
				peak = max(peak, num(s.Figures.OpenFDs))
				if m := num(s.Figures.MaxFDs); m != -1 && m != 64 {
					return false, fmt.Sprintf("max fds %v, want 64: %v", m, s)
				}
				return num(s.Figures.EMFILE) > 0 && peak >= 48, fmt.Sprintf("peak open fds %v; %v", peak, s)
			})
			if react {
				eventually(t, 10*time.Second, "the Target tab's rows to show EMFILE", func() (bool, string) {
					rows, err := tabRows(web)
					if err != nil {
						return false, err.Error()
					}
					n, _ := strconv.Atoi(rowValue(rows, "Accept errors: EMFILE"))
					return n > 0 && strings.Contains(rowValue(rows, "Target"), "answered") &&
						rowValue(rows, "Open descriptors") != "", fmt.Sprintf("%+v", rows)
				})
			}
			stop(t, web)
			var after targetStats
			eventually(t, 30*time.Second, "sampling to stop", func() (bool, string) {
				err := getJSON(web+"/target/stats", &after)
				return err == nil && !after.Running, fmt.Sprintf("%v %v", after, err)
			})
			b, err := get(web + "/target/csv")
			if err != nil {
				t.Fatal(err)
			}
			if lines := strings.Count(string(b), "\n"); !strings.HasPrefix(string(b), strings.Join(csvColumns, ",")+"\r\n") || lines != after.Samples+1 {
				t.Errorf("/target/csv: %d lines for %d samples:\n%.300s", lines, after.Samples, b)
			}

			// Nobody answers there; {model} becomes the form's target.
			post(t, web+"/swarm", url.Values{
				"user_count": {"1"}, "spawn_rate": {"1"}, "host": {tg.site},
				"user_classes": {"LabUser"}, "target": {"select"}, "target_admin_url": {"http://127.0.0.1:1/{model}"}})
			eventually(t, 30*time.Second, "an unreachable target shown as such", func() (bool, string) {
				var s targetStats
				if err := getJSON(web+"/target/stats", &s); err != nil {
					return false, err.Error()
				}
				return s.Running && s.Target == "select" && s.AdminURL == "http://127.0.0.1:1/select" &&
					s.SampledAt != nil && !s.Answered && s.Error != nil && *s.Error != "" && s.Figures == nil &&
					len(s.Rows) == 1 && strings.Contains(s.Rows[0].Value, "NOT ANSWERING"), s.String()
			})
			if react {
				rows, err := tabRows(web)
				if err != nil || len(rows) != 1 || !strings.Contains(rows[0].Value, "NOT ANSWERING") {
					t.Errorf("the Target tab for an unreachable target: %+v %v", rows, err)
				}
			}
			stop(t, web)
		})
	}
}

// A headless run with --csv PREFIX writes PREFIX_target.csv beside
// Locust's CSVs, one row per sample: a master of either Locust version with
// a Go worker (the admin URL from TARGET_ADMIN_URL), and a standalone run of
// the pinned Locust with its own Python users (from --target-admin-url, as
// the README shows). The master prints the target's summary at the end.
func TestHeadlessRunWritesTargetCSV(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		locust     int // index in versions
		standalone bool
	}{{"pinned", 0, false}, {"debian", 1, false}, {"pinned-standalone", 0, true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := testbin.Locust(t, versions[tc.locust].find)
			tg := startTarget(t)
			prefix := filepath.Join(t.TempDir(), "run")
			args := []string{"--headless", "-u", "10", "-r", "10", "-t", "5s", "--csv", prefix, "-H", tg.site}
			var master *proc
			if tc.standalone {
				args = append(append([]string{"-f", filepath.Join(testbin.Root(t), "locustfile.py")}, args...),
					"--target-admin-url", tg.admin, "LabUser")
				master = start(t, "master "+l.Version, nil, l.Path, args...)
			} else {
				port := testbin.FreePort(t)
				env := []string{"TARGET_ADMIN_URL=" + tg.admin}
				master = startMaster(t, l, env, port, append([]string{"--expect-workers", "1"}, append(args, "LabUser")...)...)
				startWorker(t, port)
			}
			if code := master.Wait(t, 90*time.Second); code != 0 {
				t.Errorf("master exited %d", code)
			}
			if _, err := os.Stat(prefix + "_stats.csv"); err != nil {
				t.Errorf("Locust's own CSV: %v", err)
			}
			header, rows := testbin.CSV(t, prefix+"_target.csv")
			if !slices.Equal(header, csvColumns) {
				t.Errorf("columns %q, want %q", header, csvColumns)
			}
			if len(rows) < 4 {
				t.Fatalf("%d rows for a 5 s run sampled every second", len(rows))
			}
			var last int
			for i, r := range rows {
				ts, err := strconv.Atoi(r["Timestamp"])
				if err != nil || ts < last {
					t.Errorf("row %d: timestamp %q after %d", i, r["Timestamp"], last)
				}
				last = ts
				if r["Target"] != "epoll" || r["Admin URL"] != tg.admin || r["Answered"] != "1" || r["Error"] != "" {
					t.Errorf("row %d: %v", i, r)
				}
				for _, col := range []string{"Open FDs", "Threads", "RSS Bytes"} {
					if n, err := strconv.Atoi(r[col]); err != nil || n <= 0 {
						t.Errorf("row %d: %s %q", i, col, r[col])
					}
				}
				if r["EMFILE"] != "0" || r["Other Accept Errors"] != "0" {
					t.Errorf("row %d: accept errors without a limit: %v", i, r)
				}
				for _, col := range []string{"CPU %", "Connections Shed", "Max FDs"} {
					if _, err := strconv.ParseFloat(r[col], 64); r[col] != "" && err != nil {
						t.Errorf("row %d: %s %q", i, col, r[col])
					}
				}
			}
			if n, _ := strconv.Atoi(rows[len(rows)-1]["Accepted Connections"]); n < 10 {
				t.Errorf("last row: %s accepted connections for 10 users", rows[len(rows)-1]["Accepted Connections"])
			}
			want := fmt.Sprintf("serverlab: target epoll (%s): %d samples; 0 unanswered, open fds peak ", tg.admin, len(rows))
			if out := master.Out.String(); !strings.Contains(out, want) || !strings.Contains(out, "EMFILE 0") {
				t.Errorf("the master did not print the target's summary %q", want)
			}
		})
	}
}
