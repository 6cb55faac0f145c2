package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strings"
)

// Delta is one model now against the same model in the baseline. The
// percentages are nil where the baseline is zero or the model is missing
// on one side.
type Delta struct {
	Model     string   `json:"model"`
	Base      *Row     `json:"base,omitempty"`
	Now       *Row     `json:"now,omitempty"`
	RPSPct    *float64 `json:"rps_change_pct"`
	P95Pct    *float64 `json:"p95_change_pct"`
	P99Pct    *float64 `json:"p99_change_pct"`
	Regressed bool     `json:"regressed"`
	Why       string   `json:"why,omitempty"` // what regressed, with the numbers
}

// Comparison is a run against its baseline.
type Comparison struct {
	MaxRegressionPct float64 `json:"max_regression_pct"`
	Deltas           []Delta `json:"deltas"`
}

// Compare puts now against base, model by model (now's order first, then
// models only the baseline has). A model regressed when its RPS fell, or
// its p95 rose, by more than maxPct percent, or when it is gone: a model
// that stopped producing statistics is the worst regression of all.
func Compare(now, base *Report, maxPct float64) *Comparison {
	c := &Comparison{MaxRegressionPct: maxPct, Deltas: []Delta{}}
	baseRows := map[string]*Row{}
	for i := range base.Rows {
		baseRows[base.Rows[i].Model] = jsonRowPtr(base.Rows[i])
	}
	seen := map[string]bool{}
	for _, x := range now.Rows {
		d := Delta{Model: x.Model, Now: jsonRowPtr(x), Base: baseRows[x.Model]}
		seen[x.Model] = true
		if d.Base != nil {
			d.RPSPct = change(d.Base.RPS, d.Now.RPS)
			d.P95Pct = change(d.Base.P95, d.Now.P95)
			d.P99Pct = change(d.Base.P99, d.Now.P99)
			var why []string
			if d.RPSPct != nil && -*d.RPSPct > maxPct {
				why = append(why, fmt.Sprintf("RPS %s -> %s (%s)", fixed(1)(d.Base.RPS), fixed(1)(d.Now.RPS), pct(d.RPSPct)))
			}
			if d.P95Pct != nil && *d.P95Pct > maxPct {
				why = append(why, fmt.Sprintf("p95 %s -> %s ms (%s)", ms(d.Base.P95), ms(d.Now.P95), pct(d.P95Pct)))
			}
			d.Regressed = len(why) > 0
			d.Why = strings.Join(why, ", ")
		}
		c.Deltas = append(c.Deltas, d)
	}
	for _, x := range base.Rows {
		if !seen[x.Model] {
			c.Deltas = append(c.Deltas, Delta{Model: x.Model, Base: jsonRowPtr(x), Regressed: true, Why: missingNow})
		}
	}
	return c
}

const missingNow = "in the baseline, missing now"

func jsonRowPtr(x Row) *Row {
	r := jsonRow(x)
	return &r
}

// change is the percent change from a to b, rounded to 0.1; nil from zero.
func change(a, b float64) *float64 {
	if a == 0 {
		return nil
	}
	v := math.Round((b-a)/a*1000) / 10
	return &v
}

func pct(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", *p)
}

// Regressions lists one line per regressed model.
func (c *Comparison) Regressions() []string {
	var out []string
	for _, d := range c.Deltas {
		switch {
		case d.Regressed && d.Now == nil:
			out = append(out, fmt.Sprintf("%s: %s", d.Model, d.Why))
		case d.Regressed:
			out = append(out, fmt.Sprintf("%s: %s, beyond the %g%% allowed", d.Model, d.Why, c.MaxRegressionPct))
		}
	}
	return out
}

func (d Delta) status() string {
	switch {
	case d.Now == nil:
		return "missing now"
	case d.Base == nil:
		return "new"
	case d.Regressed:
		return "REGRESSED"
	}
	return "ok"
}

// cells are the delta table's columns: base -> now (change).
func (d Delta) cells() []string {
	pair := func(get func(*Row) float64, f func(float64) string, p *float64) string {
		switch {
		case d.Base == nil:
			return f(get(d.Now))
		case d.Now == nil:
			return f(get(d.Base)) + " -> -"
		}
		return fmt.Sprintf("%s -> %s (%s)", f(get(d.Base)), f(get(d.Now)), pct(p))
	}
	var fail *float64
	if d.Base != nil && d.Now != nil {
		v := math.Round((d.Now.FailPct-d.Base.FailPct)*10) / 10
		fail = &v
	}
	failPair := pair(func(r *Row) float64 { return r.FailPct }, fixed(1), nil)
	if fail != nil {
		failPair = fmt.Sprintf("%s -> %s (%+.1f pt)", fixed(1)(d.Base.FailPct), fixed(1)(d.Now.FailPct), *fail)
	}
	return []string{
		d.Model,
		pair(func(r *Row) float64 { return r.RPS }, fixed(1), d.RPSPct),
		pair(func(r *Row) float64 { return r.P95 }, ms, d.P95Pct),
		pair(func(r *Row) float64 { return r.P99 }, ms, d.P99Pct),
		failPair,
		d.status(),
	}
}

var deltaHead = []string{"model", "RPS", "p95 ms", "p99 ms", "failure %", "verdict"}

// Markdown writes the delta table; regressed models' verdicts in bold.
func (c *Comparison) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Against the baseline (regression: RPS down or p95 up by more than %g%%):\n\n", c.MaxRegressionPct)
	b.WriteString("| " + strings.Join(deltaHead, " | ") + " |\n|---|---:|---:|---:|---:|---|\n")
	for _, d := range c.Deltas {
		cells := d.cells()
		cells[0] = mdEscape(cells[0])
		if d.Regressed {
			cells[len(cells)-1] = "**REGRESSED**: " + d.Why
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// CSV writes the deltas as numbers: base, now and change per measure.
func (c *Comparison) CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"model", "base_rps", "rps", "rps_change_pct", "base_p95_ms", "p95_ms", "p95_change_pct",
		"base_p99_ms", "p99_ms", "p99_change_pct", "base_failure_pct", "failure_pct", "verdict"})
	opt := func(r *Row, get func(*Row) float64) string {
		if r == nil {
			return ""
		}
		return num(get(r))
	}
	optPct := func(p *float64) string {
		if p == nil {
			return ""
		}
		return num(*p)
	}
	rps := func(r *Row) float64 { return r.RPS }
	p95 := func(r *Row) float64 { return r.P95 }
	p99 := func(r *Row) float64 { return r.P99 }
	fail := func(r *Row) float64 { return r.FailPct }
	for _, d := range c.Deltas {
		cw.Write([]string{d.Model,
			opt(d.Base, rps), opt(d.Now, rps), optPct(d.RPSPct),
			opt(d.Base, p95), opt(d.Now, p95), optPct(d.P95Pct),
			opt(d.Base, p99), opt(d.Now, p99), optPct(d.P99Pct),
			opt(d.Base, fail), opt(d.Now, fail), d.status()})
	}
	cw.Flush()
	return cw.Error()
}
