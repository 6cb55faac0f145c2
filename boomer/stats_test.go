package boomer

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestBucketMatchesLocust(t *testing.T) {
	py := locustPython(t)
	var vals []float64
	for i := 0; i <= 12000; i += 5 {
		vals = append(vals, float64(i))
	}
	for _, v := range []float64{0.5, 1.5, 2.5, 99.49, 99.5, 145, 155, 994.9999, 995, 1050, 1150, 2450, 9950, 10500, 11500, 59999.99} {
		vals = append(vals, v, math.Nextafter(v, 0), math.Nextafter(v, math.Inf(1)))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		vals = append(vals, r.Float64()*20000, float64(r.IntN(20000))/1000*r.Float64())
	}
	// Durations go through float64(ns)/1e6, which often lands next to ties.
	for range 3000 {
		vals = append(vals, durationMS(time.Duration(r.Int64N(int64(20*time.Second)))))
	}
	var want []int64
	runPython(t, py, `
import json, sys
from locust.stats import bucket_response_time
print(json.dumps([int(bucket_response_time(v)) for v in json.load(sys.stdin)]))
`, vals, &want)
	if len(want) != len(vals) {
		t.Fatalf("python returned %d values for %d", len(want), len(vals))
	}
	bad := 0
	for i, v := range vals {
		if got := bucketResponseTime(v); got != want[i] {
			t.Errorf("bucket(%v) = %d, Locust says %d", v, got, want[i])
			if bad++; bad > 10 {
				t.FailNow()
			}
		}
	}
}

var errorSamples = [][3]string{
	{"GET", "/", "ConnectionRefusedError(111, 'Connection refused')"},
	{"GET", "/x", `it's "quoted"`},
	{"POST", "/y", `only 'single'`},
	{"GET", "/z", `only "double"`},
	{"GET", "/tab", "a\tb\nc\rd\\e\x00\x1f\x7f"},
	{"GET", "/uni", "héllo wörld ☃ \u00a0 \u00ad \u2028 \U0001F600 \u0378"},
	{"GET", "/addr", "<foo.Bar object at 0x7f3a2b1c0d90>"},
	{"", "", ""},
}

func TestErrorKeyMatchesLocust(t *testing.T) {
	py := locustPython(t)
	var want []struct {
		Key, Repr, Parsed string
	}
	runPython(t, py, `
import json, sys
from locust.stats import StatsError
out = []
for m, n, e in json.load(sys.stdin):
    out.append({"Key": StatsError.create_key(m, n, e), "Repr": repr(e), "Parsed": StatsError.parse_error(e)})
print(json.dumps(out))
`, errorSamples, &want)
	for i, s := range errorSamples {
		if got := pyRepr(s[2]); got != want[i].Repr {
			t.Errorf("pyRepr(%q) = %s, Python says %s", s[2], got, want[i].Repr)
		}
		if got := parseError(s[2]); got != want[i].Parsed {
			t.Errorf("parseError(%q) = %q, Locust says %q", s[2], got, want[i].Parsed)
		}
		if got := errorKey(s[0], s[1], parseError(s[2])); got != want[i].Key {
			t.Errorf("errorKey(%q) = %s, Locust says %s", s, got, want[i].Key)
		}
	}
}

func TestTableCountsLikeLocust(t *testing.T) {
	h := newStatsHub()
	s := h.newShard()
	s.success("GET", "/a", 10*time.Millisecond, 100)
	s.success("GET", "/a", 30*time.Millisecond, 50)
	s.failure("GET", "/a", 5*time.Millisecond, "boom")
	s.failure("GET", "/a", 7*time.Millisecond, "boom")
	s.success("POST", "/b", 1500*time.Millisecond, 1)
	rep := h.collect()
	a := rep.entries[statsKey{"/a", "GET"}]
	if a == nil {
		t.Fatal("no entry for GET /a")
	}
	if a.numRequests != 4 || a.numFailures != 2 || a.totalContentLength != 150 {
		t.Errorf("GET /a: %d requests, %d failures, %d bytes; want 4, 2, 150", a.numRequests, a.numFailures, a.totalContentLength)
	}
	if a.minResponseTime != 5 || a.maxResponseTime != 30 || a.totalResponseTime != 52 {
		t.Errorf("GET /a: min %v max %v total %v; want 5 30 52", a.minResponseTime, a.maxResponseTime, a.totalResponseTime)
	}
	if a.responseTimes[10] != 1 || a.responseTimes[30] != 1 || a.responseTimes[5] != 1 || a.responseTimes[7] != 1 {
		t.Errorf("GET /a response times %v", a.responseTimes)
	}
	stats, total, errs := rep.serialize()
	if len(stats) != 2 || stats[0]["name"] != "/a" || stats[1]["name"] != "/b" {
		t.Errorf("stats %v", stats)
	}
	if total["name"] != "Aggregated" || total["num_requests"] != int64(5) || total["num_failures"] != int64(2) {
		t.Errorf("total %v", total)
	}
	if rt := total["response_times"].(map[int64]int64); rt[1500] != 1 {
		t.Errorf("total response times %v", rt)
	}
	if len(errs) != 1 {
		t.Fatalf("errors %v", errs)
	}
	for k, v := range errs {
		e := v.(map[string]any)
		if k != errorKey("GET", "/a", "boom") || e["occurrences"] != int64(2) || e["error"] != "boom" {
			t.Errorf("error %s: %v", k, e)
		}
	}
	// Reports are deltas: the next one is empty.
	if rep := h.collect(); !rep.empty() {
		t.Errorf("second report not empty: %v", rep.entries)
	}
	// A stopped user's last records still reach the next report.
	s.success("GET", "/a", time.Millisecond, 1)
	h.retire(s)
	if rep := h.collect(); rep.entries[statsKey{"/a", "GET"}].numRequests != 1 {
		t.Error("retired shard's records lost")
	}
	if run := h.runTable(); run.entries[statsKey{"/a", "GET"}].numRequests != 5 {
		t.Errorf("run table: %d GET /a requests, want 5", run.entries[statsKey{"/a", "GET"}].numRequests)
	}
	// The summary sees unreported records without taking them from the
	// next report.
	s2 := h.newShard()
	s2.success("GET", "/c", time.Millisecond, 1)
	if run := h.runTable(); run.entries[statsKey{"/c", "GET"}] == nil {
		t.Error("run table misses unreported records")
	}
	if rep := h.collect(); rep.entries[statsKey{"/c", "GET"}] == nil {
		t.Error("the run table took records from the next report")
	}
}

func TestPackageRecordNeedsRunningBoomer(t *testing.T) {
	RecordSuccess("GET", "/", 1, 1) // no Boomer: must not panic
	var u User
	u.RecordFailure("GET", "/", time.Millisecond, "x")
}

// singleMutexStats is the baseline design: one lock around one table.
type singleMutexStats struct {
	mu  sync.Mutex
	tab *table
}

func (s *singleMutexStats) success(method, name string, d time.Duration, n int64) {
	now := time.Now()
	s.mu.Lock()
	s.tab.success(now, method, name, durationMS(d), n)
	s.mu.Unlock()
}

// BenchmarkRecordSuccess records from many goroutines, each a user with its
// own shard, as users do.
func BenchmarkRecordSuccess(b *testing.B) {
	h := newStatsHub()
	b.RunParallel(func(pb *testing.PB) {
		s := h.newShard()
		for pb.Next() {
			s.success("GET", "/index.html", 1234*time.Microsecond, 512)
		}
	})
}

// BenchmarkRecordSuccessPackage uses the package-level function, which
// spreads callers over shards.
func BenchmarkRecordSuccessPackage(b *testing.B) {
	bm := NewBoomer(Options{})
	running.Store(bm)
	defer running.CompareAndSwap(bm, nil)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			RecordSuccess("GET", "/index.html", 1, 512)
		}
	})
}

func BenchmarkRecordSuccessSingleMutex(b *testing.B) {
	s := &singleMutexStats{tab: newTable(0)}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.success("GET", "/index.html", 1234*time.Microsecond, 512)
		}
	})
}

// A report the master did not take comes back with the next one, and the
// run's totals count it once.
func TestKeptReportGoesWithTheNext(t *testing.T) {
	h := newStatsHub()
	s := h.newShard()
	s.success("GET", "/a", time.Millisecond, 1)
	s.failure("GET", "/a", time.Millisecond, "boom")
	first := h.collect()
	h.keep(first)
	s.success("GET", "/a", time.Millisecond, 1)
	next := h.collect().total()
	if next.numRequests != 3 || next.numFailures != 1 {
		t.Errorf("next report: %d requests, %d failures, want 3 and 1", next.numRequests, next.numFailures)
	}
	if run := h.runTable().total(); run.numRequests != 3 || run.numFailures != 1 {
		t.Errorf("run totals: %d requests, %d failures, want 3 and 1", run.numRequests, run.numFailures)
	}
	if again := h.collect(); !again.empty() {
		t.Errorf("a kept report went out twice: %+v", again.total())
	}
}
