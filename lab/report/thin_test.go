package report

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"serverlab/lab/locustcsv"
)

// A run of any length draws a bounded chart: two points per two pixels,
// the spike kept.
func TestLongHistoryDrawnThin(t *testing.T) {
	const n = 200_000
	run := &locustcsv.Run{Name: "long", Aggregated: locustcsv.Entry{Requests: n, RPS: 100, P95: 20}}
	for i := 0; i < n; i++ {
		p95 := 20.0
		if i == 123_456 {
			p95 = 9999
		}
		if i%1000 == 5 {
			p95 = math.NaN()
		}
		run.History = append(run.History, locustcsv.Point{Time: int64(i), RPS: 100, P95: p95, Requests: i})
	}
	r := Build([]*locustcsv.Run{run})
	var page bytes.Buffer
	if err := r.HTML(&page, "long", nil); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(page.String(), "],["); lines > 4*plotW {
		t.Errorf("%d lines drawn for %d points (page %d bytes)", lines, n, page.Len())
	}
	s := series{name: "x"}
	for _, p := range run.History {
		s.x, s.y = append(s.x, float64(p.Time)), append(s.y, p.P95)
	}
	th := thin(s, n-1, plotW/2)
	peak := 0.0
	for _, y := range th.y {
		if !math.IsNaN(y) {
			peak = math.Max(peak, y)
		}
	}
	if len(th.x) > 4*plotW || peak != 9999 {
		t.Errorf("thinned to %d points, peak %v", len(th.x), peak)
	}
	for i := 1; i < len(th.x); i++ {
		if th.x[i] < th.x[i-1] {
			t.Fatalf("out of order at %d", i)
		}
	}
}
