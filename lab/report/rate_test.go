package report

import (
	"bytes"
	"encoding/csv"
	"math"
	"strings"
	"testing"

	"serverlab/lab/locustcsv"
)

// rateStep is an open model's step: due requests at rate over a 10 s
// window, late of them waiting for a free user of a pool of 50.
func rateStep(rate, rps float64, failures int, p95, late, backlog float64) locustcsv.Step {
	due := rate * 10
	return locustcsv.Step{Users: 50, TargetUsers: 50, Requests: int(rps * 10), Failures: failures, RPS: rps,
		P95: p95, Median: p95 / 2, P99: p95, Start: 100, End: 110, TargetRate: rate,
		Due: due, Late: late, Backlog: backlog, MaxLag: 40 * late / math.Max(due, 1), Engaged: 50}
}

// On the rate axis the knee is the largest rate kept up with; a step
// whose pool ran dry for 1 % or more of its due requests is broken, and
// says so; a few late requests are noted, not a break.
func TestRateKnee(t *testing.T) {
	sl := DefaultServiceLevel
	steps := []StepRow{
		{Step: rateStep(100, 100, 0, 2, 0, 0), Server: server(50, 0, 5)},
		{Step: rateStep(1000, 1000, 0, 5, 3, 0), Server: server(50, 0, 40)}, // 0.03 % late
		{Step: rateStep(10000, 4000, 0, 900, 58000, 51000), Server: server(50, 0, 99)},
		{Step: rateStep(100000, 4000, 0, 5000, 990000, 900000), Server: server(50, 0, 99)},
	}
	sr := SweepRun{Name: "epoll", Model: "epoll", Generator: "go"}
	for i, row := range steps {
		row.Step.Step = i + 1
		judge(&row, nil, sl)
		sr.Steps = append(sr.Steps, row)
	}
	k := kneeOf(&sr)
	sr.Knee = k
	if k.Axis != "rate" || k.Rate != 1000 || k.BrokeAtRate != 10000 || k.Users != 50 {
		t.Fatalf("knee %+v", k)
	}
	if want := "the pool of 50 users ran dry: 58000 of 100000 requests due (58.0 %) waited for a free user, up to 23 ms, 51000 still queued at the window's end"; !strings.HasPrefix(k.How, want) {
		t.Errorf("how %q, want it to start %q", k.How, want)
	}
	if sr.Steps[1].Broken || !sr.Steps[1].PoolDry() {
		t.Errorf("3 late of 10000 broke the step, or went unnoticed: %+v", sr.Steps[1])
	}
	if !strings.Contains(k.Sentence, "epoll kept up with 1000 req/s") || !strings.Contains(k.Sentence, "broke at 10000 req/s") {
		t.Errorf("sentence %q", k.Sentence)
	}
	// The queue shows in the users' connections too: the server held
	// fewer than the users engaged.
	row := StepRow{Step: rateStep(100, 100, 0, 2, 0, 0), Server: server(1, 0, 5)}
	judge(&row, nil, sl)
	if !row.Broken || !strings.Contains(row.How, "queued in the backlog: the server held 1 connection for 50 users") {
		t.Errorf("backlog: %+v", row)
	}
	// Fewer answered than due, the pool never dry: the generator or the
	// window fell short, and the step does not count as served.
	row = StepRow{Step: rateStep(1000, 500, 0, 2, 0, 0), Server: server(50, 0, 5)}
	judge(&row, nil, sl)
	if !row.Broken || row.How != "500 of the 1000 requests due a second were answered" {
		t.Errorf("short: %+v", row)
	}

	r := &Report{Sweeps: []SweepRun{sr}, Level: sl}
	var b bytes.Buffer
	if err := r.KneeCSV(&b); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("knee.csv: %v %v", recs, err)
	}
	got := map[string]string{}
	for i, h := range recs[0] {
		got[h] = recs[1][i]
	}
	if got["axis"] != "rate" || got["rate_at_knee"] != "1000" || got["first_broken_rate"] != "10000" || got["users_at_knee"] != "50" {
		t.Errorf("knee.csv row %v", got)
	}
	charts := r.sweepCharts()
	if len(charts) != 3 || charts[0].xTitle != "requests due a second" || len(charts[0].lines) != 1 ||
		charts[0].lines[0].x[3] != 100000 || charts[1].lines[0].y[3] != 5000 {
		t.Errorf("knee curves not against the rate: %+v", charts)
	}
	var md bytes.Buffer
	if err := r.sweepMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| epoll | go | 1000 | 1000.0 | 5 | 10000 |", "The axis is the arrival rate",
		"| 1000 | 50 | 1000.0 | 2 | 5 | 5 | 0.0 | 0.0 | 0 | 0 | 50 |", "served (the pool was briefly dry: 3 requests waited)"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
}
