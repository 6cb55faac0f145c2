// Package report turns Locust CSV runs (package locustcsv) into the lab's
// comparison: a table per model in Markdown, CSV or JSON, deltas against a
// baseline with a regression gate, a sweep's knee per model, and charts:
// PNG and SVG drawn by gonum/plot, interactive ones in a self-contained
// HTML page drawn by ECharts.
package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"serverlab/lab/locustcsv"
)

// Row is one model's line of the comparison, from its Aggregated stats.
type Row struct {
	Model    string         `json:"model"`
	Requests int            `json:"requests"`
	Failures int            `json:"failures"`
	FailPct  float64        `json:"failure_pct"`
	RPS      float64        `json:"rps"`
	Avg      float64        `json:"avg_ms"`
	Median   float64        `json:"median_ms"`
	P95      float64        `json:"p95_ms"`
	P99      float64        `json:"p99_ms"`
	Max      float64        `json:"max_ms"`
	Errors   map[string]int `json:"errors"` // failures by locustcsv kind, every kind present
}

// Report is the comparison of several runs, best RPS first.
type Report struct {
	Rows  []Row
	Runs  []*locustcsv.Run // Runs[i] is Rows[i]'s
	Kinds []string         // the failure kinds any run saw, in locustcsv.Kinds order
	// Servers holds each model's server-side figures when its run folder
	// has them (see LoadServers), by Rows' model name.
	Servers map[string]Server
	// Setups are what each lab run folder ran (see LoadServers).
	Setups []Setup
	// Sweeps are the runs that were step-load sweeps, best knee first,
	// judged against Level (see LoadSweeps).
	Sweeps []SweepRun
	Level  ServiceLevel
	// Repeats are the models that ran more than once (see LoadRepeats).
	Repeats []Repeat
	// Seeds are the runs of a seeds preset (see LoadSeeds).
	Seeds []SeedRun
}

// Build compares runs. Names must be unique.
func Build(runs []*locustcsv.Run) *Report {
	r := &Report{Runs: append([]*locustcsv.Run(nil), runs...)}
	sort.SliceStable(r.Runs, func(i, j int) bool {
		a, b := r.Runs[i].Aggregated, r.Runs[j].Aggregated
		if a.RPS != b.RPS {
			return a.RPS > b.RPS
		}
		return r.Runs[i].Name < r.Runs[j].Name
	})
	seen := map[string]bool{}
	for _, run := range r.Runs {
		a := run.Aggregated
		row := Row{
			Model: run.Name, Requests: a.Requests, Failures: a.Failures,
			RPS: a.RPS, Avg: a.Average, Median: a.Median, P95: a.P95, P99: a.P99, Max: a.Max,
			Errors: map[string]int{},
		}
		if a.Requests > 0 {
			row.FailPct = 100 * float64(a.Failures) / float64(a.Requests)
		}
		for _, k := range locustcsv.Kinds {
			row.Errors[k] = 0
		}
		for _, f := range run.Failures {
			k := locustcsv.Kind(f.Error)
			row.Errors[k] += f.Occurrences
			if f.Occurrences > 0 {
				seen[k] = true
			}
		}
		r.Rows = append(r.Rows, row)
	}
	for _, k := range locustcsv.Kinds {
		if seen[k] {
			r.Kinds = append(r.Kinds, k)
		}
	}
	return r
}

// column is one column of the table: its value, formatting, and which
// direction is better (+1 higher, -1 lower).
type column struct {
	name   string
	better int
	value  func(Row) float64
	format func(float64) string
}

func (r *Report) columns(allKinds bool) []column {
	count := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	cols := []column{
		{"requests", +1, func(x Row) float64 { return float64(x.Requests) }, count},
		{"failures", -1, func(x Row) float64 { return float64(x.Failures) }, count},
		{"failure %", -1, func(x Row) float64 { return x.FailPct }, fixed(1)},
		{"RPS", +1, func(x Row) float64 { return x.RPS }, fixed(1)},
		{"avg ms", -1, func(x Row) float64 { return x.Avg }, ms},
		{"median ms", -1, func(x Row) float64 { return x.Median }, ms},
		{"p95 ms", -1, func(x Row) float64 { return x.P95 }, ms},
		{"p99 ms", -1, func(x Row) float64 { return x.P99 }, ms},
		{"max ms", -1, func(x Row) float64 { return x.Max }, ms},
	}
	kinds := r.Kinds
	if allKinds {
		kinds = locustcsv.Kinds
	}
	for _, k := range kinds {
		cols = append(cols, column{k, -1, func(x Row) float64 { return float64(x.Errors[k]) }, count})
	}
	return cols
}

func fixed(prec int) func(float64) string {
	return func(v float64) string { return strconv.FormatFloat(v, 'f', prec, 64) }
}

// ms shows milliseconds with a decimal only where it matters.
func ms(v float64) string {
	if v < 10 {
		return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0")
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// best marks the rows holding a column's best value, unless all agree
// (then no row stands out).
func best(rows []Row, c column) []bool {
	marks := make([]bool, len(rows))
	if len(rows) < 2 {
		return marks
	}
	bv := c.value(rows[0])
	same := true
	for _, x := range rows[1:] {
		v := c.value(x)
		if c.format(v) != c.format(bv) {
			same = false
		}
		if float64(c.better)*(v-bv) > 0 {
			bv = v
		}
	}
	if same {
		return marks
	}
	for i, x := range rows {
		marks[i] = c.format(c.value(x)) == c.format(bv)
	}
	return marks
}

// Markdown writes the table, the best of each column in bold.
func (r *Report) Markdown(w io.Writer) error {
	cols := r.columns(false)
	var b strings.Builder
	b.WriteString("| model |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s |", c.name)
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	marks := make([][]bool, len(cols))
	for j, c := range cols {
		marks[j] = best(r.Rows, c)
	}
	for i, x := range r.Rows {
		fmt.Fprintf(&b, "| %s |", mdEscape(x.Model))
		for j, c := range cols {
			s := c.format(c.value(x))
			if marks[j][i] {
				s = "**" + s + "**"
			}
			fmt.Fprintf(&b, " %s |", s)
		}
		b.WriteString("\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if err := r.serverMarkdown(w); err != nil {
		return err
	}
	if err := r.sweepMarkdown(w); err != nil {
		return err
	}
	r.heldMarkdown(w)
	r.repeatMarkdown(w)
	if err := r.seedsMarkdown(w); err != nil {
		return err
	}
	return r.setupMarkdown(w)
}

// setupMarkdown lists what each lab run folder ran, if any did.
func (r *Report) setupMarkdown(w io.Writer) error {
	if len(r.Setups) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("\nSetup:\n\n")
	for _, s := range r.Setups {
		b.WriteString("- " + mdEscape(s.String()) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`).Replace(s)
}

// CSV writes the table with every failure kind, for machines.
func (r *Report) CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{"model", "requests", "failures", "failure_pct", "rps", "avg_ms", "median_ms", "p95_ms", "p99_ms", "max_ms"}
	for _, k := range locustcsv.Kinds {
		head = append(head, "errors_"+strings.ReplaceAll(k, " ", "_"))
	}
	cw.Write(head)
	for _, x := range r.Rows {
		rec := []string{x.Model, strconv.Itoa(x.Requests), strconv.Itoa(x.Failures), num(x.FailPct),
			num(x.RPS), num(x.Avg), num(x.Median), num(x.P95), num(x.P99), num(x.Max)}
		for _, k := range locustcsv.Kinds {
			rec = append(rec, strconv.Itoa(x.Errors[k]))
		}
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// num keeps three decimals: enough for milliseconds, stable for goldens.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// jsonRow rounds like num so JSON and CSV agree.
func jsonRow(x Row) Row {
	for _, p := range []*float64{&x.FailPct, &x.RPS, &x.Avg, &x.Median, &x.P95, &x.P99, &x.Max} {
		*p = math.Round(*p*1000) / 1000
	}
	return x
}

// JSONDoc is what --format json prints.
type JSONDoc struct {
	Models   []Row             `json:"models"`
	Servers  map[string]Server `json:"servers,omitempty"`
	Setups   []Setup           `json:"setups,omitempty"`
	Baseline *Comparison       `json:"baseline,omitempty"`
}

// JSON writes the table, and the baseline comparison when cmp is not nil.
func (r *Report) JSON(w io.Writer, cmp *Comparison) error {
	doc := JSONDoc{Models: []Row{}, Servers: r.Servers, Setups: r.Setups, Baseline: cmp}
	for _, x := range r.Rows {
		doc.Models = append(doc.Models, jsonRow(x))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
