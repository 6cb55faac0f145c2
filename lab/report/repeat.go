package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Repeat is one model's runs under --repeat: the median of each measure
// and its spread, (max - min) / median.
type Repeat struct {
	Name                 string    `json:"name"` // the runs' name without -runN
	Runs                 int       `json:"runs"`
	RPS                  []float64 `json:"rps"`
	P95                  []float64 `json:"p95_ms"`
	Knees                []int     `json:"knee_users,omitempty"`
	RPSMedian, P95Median float64
	RPSSpread, P95Spread float64 // percent of the median
	KneeMedian           float64
	KneeMin, KneeMax     int
}

// LoadRepeats groups the runs that --repeat made (their meta.json entries
// carry a repeat number) by what they repeat.
func (r *Report) LoadRepeats() {
	groups := map[string]*Repeat{}
	var order []string
	for i, run := range r.Runs {
		mr, ok := r.modelRun(run)
		if !ok || mr.Repeat == 0 {
			continue
		}
		name := strings.TrimSuffix(run.Name, "-run"+strconv.Itoa(mr.Repeat))
		g := groups[name]
		if g == nil {
			g = &Repeat{Name: name}
			groups[name] = g
			order = append(order, name)
		}
		g.Runs++
		g.RPS = append(g.RPS, r.Rows[i].RPS)
		g.P95 = append(g.P95, r.Rows[i].P95)
		for _, s := range r.Sweeps {
			if s.Name == run.Name {
				g.Knees = append(g.Knees, int(math.Round(s.Knee.level())))
			}
		}
	}
	sort.Strings(order)
	for _, name := range order {
		g := groups[name]
		g.RPSMedian, g.RPSSpread = medianSpread(g.RPS)
		g.P95Median, g.P95Spread = medianSpread(g.P95)
		if len(g.Knees) > 0 {
			k := make([]float64, len(g.Knees))
			for i, v := range g.Knees {
				k[i] = float64(v)
			}
			g.KneeMedian, _ = medianSpread(k)
			g.KneeMin, g.KneeMax = g.Knees[0], g.Knees[0]
			for _, v := range g.Knees {
				g.KneeMin, g.KneeMax = min(g.KneeMin, v), max(g.KneeMax, v)
			}
		}
		r.Repeats = append(r.Repeats, *g)
	}
}

// medianSpread is the median of vs and (max - min) as a percentage of it.
func medianSpread(vs []float64) (median, spread float64) {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	median = s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	spread = math.NaN()
	if median > 0 {
		spread = 100 * (s[n-1] - s[0]) / median
	}
	return median, spread
}

func (g Repeat) cells() []string {
	lo, hi := func(v []float64) string {
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		return fmt.Sprintf("%s-%s", strconv.FormatFloat(s[0], 'f', 1, 64), strconv.FormatFloat(s[len(s)-1], 'f', 1, 64))
	}, func(v float64) string { return cell(v, 0) }
	knee := "-"
	if len(g.Knees) > 0 {
		knee = fmt.Sprintf("%s (%d-%d)", cell(g.KneeMedian, 0), g.KneeMin, g.KneeMax)
	}
	return []string{g.Name, strconv.Itoa(g.Runs), cell(g.RPSMedian, 1), lo(g.RPS), hi(g.RPSSpread),
		cell(g.P95Median, 0), lo(g.P95), hi(g.P95Spread), knee}
}

var repeatHead = []string{"model", "runs", "RPS median", "RPS min-max", "RPS spread %", "p95 median ms", "p95 min-max", "p95 spread %", "knee median (min-max)"}

func (r *Report) repeatMarkdown(w io.Writer) {
	if len(r.Repeats) == 0 {
		return
	}
	io.WriteString(w, "\n## Repeatability\n\nEach model ran several times in a row on the same machine; the spread is (max - min) / median: how much two runs differ.\n\n|")
	for _, h := range repeatHead {
		fmt.Fprintf(w, " %s |", h)
	}
	io.WriteString(w, "\n|---|"+strings.Repeat("---:|", len(repeatHead)-1)+"\n")
	for _, g := range r.Repeats {
		c := g.cells()
		for i := range c {
			c[i] = mdEscape(c[i])
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(c, " | "))
	}
}

func (r *Report) repeatHTML(b *strings.Builder) {
	if len(r.Repeats) == 0 {
		return
	}
	b.WriteString("<h2>Repeatability</h2>\n<p>Each model ran several times in a row on the same machine; the spread is (max - min) / median.</p>\n<table>\n<tr>")
	for _, h := range repeatHead {
		fmt.Fprintf(b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr>\n")
	for _, g := range r.Repeats {
		b.WriteString("<tr>")
		for _, c := range g.cells() {
			fmt.Fprintf(b, "<td>%s</td>", html.EscapeString(c))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
}
