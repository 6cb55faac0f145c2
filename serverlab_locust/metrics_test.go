package serverlablocust

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// python runs serverlab_locust.metrics on the system Python (the reader
// needs no Locust) with text on stdin; mode "parse" prints the samples,
// "read" the figures, as JSON with values as strings (NaN is not JSON).
func python(t *testing.T, mode, text string) (string, error) {
	t.Helper()
	const script = `
import json, sys
from serverlab_locust import metrics
text = sys.stdin.read()
try:
    samples = metrics.parse(text)
except ValueError as e:
    print("ValueError:", e)
    sys.exit(0)
if sys.argv[1] == "parse":
    print(json.dumps({n: [[l, repr(v)] for l, v in s] for n, s in samples.items()}))
else:
    print(json.dumps({k: v if v is None or isinstance(v, dict) else repr(v) for k, v in metrics.read(samples).items()}))
`
	cmd := exec.Command("python3", "-c", script, mode)
	cmd.Dir = root(t)
	cmd.Env = append(cmd.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("python: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("python: %v", err)
	}
	s := strings.TrimSpace(string(out))
	if msg, ok := strings.CutPrefix(s, "ValueError: "); ok {
		return "", fmt.Errorf("%s", msg)
	}
	return s, nil
}

// sample is one metric sample, comparable across both readers.
type sample struct {
	labels string
	value  float64
}

func pythonSamples(t *testing.T, text string) (map[string][]sample, error) {
	t.Helper()
	out, err := python(t, "parse", text)
	if err != nil {
		return nil, err
	}
	var raw map[string][][2]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("python printed %q: %v", out, err)
	}
	got := map[string][]sample{}
	for name, ss := range raw {
		for _, s := range ss {
			var labels map[string]string
			var v string
			if json.Unmarshal(s[0], &labels) != nil || json.Unmarshal(s[1], &v) != nil {
				t.Fatalf("python printed %q", out)
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("python value %q: %v", v, err)
			}
			got[name] = append(got[name], sample{labelString(labels), f})
		}
	}
	return sorted(got), nil
}

// goSamples reads text with Prometheus's own parser.
func goSamples(t *testing.T, text string) map[string][]sample {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("expfmt: %v\n%s", err, text)
	}
	got := map[string][]sample{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			var v float64
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				v = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				v = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				v = m.GetUntyped().GetValue()
			default:
				t.Fatalf("%s: type %v is not one bin/target writes", name, f.GetType())
			}
			got[name] = append(got[name], sample{labelString(labels), v})
		}
	}
	return sorted(got)
}

func labelString(l map[string]string) string {
	b, _ := json.Marshal(l) // sorted keys
	return string(b)
}

func sorted(m map[string][]sample) map[string][]sample {
	for _, ss := range m {
		slices.SortFunc(ss, func(a, b sample) int { return strings.Compare(a.labels, b.labels) })
	}
	return m
}

func sameSamples(a, b map[string][]sample) bool {
	if len(a) != len(b) {
		return false
	}
	for name, as := range a {
		bs := b[name]
		if len(as) != len(bs) {
			return false
		}
		for i := range as {
			if as[i].labels != bs[i].labels ||
				(as[i].value != bs[i].value && !(math.IsNaN(as[i].value) && math.IsNaN(bs[i].value))) {
				return false
			}
		}
	}
	return true
}

// The reader sees in a live target's /metrics exactly what Prometheus's own
// parser sees, after requests of several kinds, a malformed one included.
func TestReaderAgreesWithPrometheusOnALiveTarget(t *testing.T) {
	tg := startTarget(t)
	for _, p := range []string{"/", "/style.css", "/nothing-here"} {
		get(tg.site + p)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(tg.site, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("NOT HTTP\r\n\r\n"))
	c.Read(make([]byte, 512))
	c.Close()

	body, err := get(tg.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	want := goSamples(t, text)
	got, err := pythonSamples(t, text)
	if err != nil {
		t.Fatalf("the reader refused a live /metrics: %v", err)
	}
	if !sameSamples(got, want) {
		t.Errorf("the reader disagrees with expfmt:\n got %v\nwant %v", got, want)
	}
	if len(want["serverlab_responses_total"]) < 3 {
		t.Errorf("expected responses by status (200, 404, 400): %v", want["serverlab_responses_total"])
	}
}

// Corners of the format bin/target does not write today, against expfmt.
func TestReaderAgreesWithPrometheusOnCorners(t *testing.T) {
	text := `# HELP a_total A counter.
# TYPE a_total counter
a_total{errno="EMFILE",model="epoll"} 3 1712345678000
a_total{ errno = "E\"Q\\U\nO" , model="x",} 1.5e+03
# a comment
b{} NaN
c +Inf
c2 -Inf
d_bytes{model="epoll"}   1.1812864e+07
`
	want := goSamples(t, text)
	got, err := pythonSamples(t, text)
	if err != nil {
		t.Fatal(err)
	}
	if !sameSamples(got, want) {
		t.Errorf("the reader disagrees with expfmt:\n got %v\nwant %v", got, want)
	}
}

// A page that is not /metrics is an error naming the line, not zeros.
func TestReaderRefusesWhatIsNotMetrics(t *testing.T) {
	for _, text := range []string{
		"<html><body>hi</body></html>",
		"ok\n",
		"a 1\nb{x=\"1\" 2\n",
		"a 1\nb{x=1} 2\n",
		"a one\n",
		"a 1 2 3\n",
		"a{x=\"1\"}2\n",
	} {
		_, err := pythonSamples(t, text)
		if err == nil || !strings.Contains(err.Error(), "line ") {
			t.Errorf("%q: err %v, want a ValueError naming the line", text, err)
		}
	}
}

// The figures: EMFILE apart from the other accept errors, a metric the
// target does not expose is None (an older target: no max fds, no shed, no
// CPU), and a 0 that no running process can have is unknown, not 0.
func TestFigures(t *testing.T) {
	text := `serverlab_open_fds{model="epoll"} 0
serverlab_os_threads{model="epoll"} 7
serverlab_resident_memory_bytes{model="epoll"} 0
serverlab_child_processes{model="epoll"} 0
serverlab_connections_active{model="epoll"} 52
serverlab_connections_accepted_total{model="epoll"} 60
serverlab_accept_errors_total{errno="EMFILE",model="epoll"} 13
serverlab_accept_errors_total{errno="ECONNABORTED",model="epoll"} 2
serverlab_accept_errors_total{errno="ENFILE",model="epoll"} 1
`
	out, err := python(t, "read", text)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"open_fds": nil, "max_fds": nil, "emfile": "13.0", "other_accept_errors": "3.0",
		"accept_errors":    map[string]any{"EMFILE": 13.0, "ECONNABORTED": 2.0, "ENFILE": 1.0},
		"connections_shed": nil, "connections_active": "52.0", "connections_accepted": "60.0",
		"threads": "7.0", "child_processes": "0.0", "rss_bytes": nil, "cpu_seconds": nil,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("figures\n got %v\nwant %v", got, want)
	}

	out, err = python(t, "read", "serverlab_open_fds 10\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got["open_fds"] != "10.0" || got["emfile"] != nil || got["other_accept_errors"] != nil {
		t.Errorf("a target without accept errors: %v", got)
	}
}
