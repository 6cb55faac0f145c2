package report

import (
	"fmt"
	"html"
	"io"
	"os"
	"strings"
)

// HTML writes one self-contained page: the table, the baseline deltas when
// cmp is not nil, and interactive charts drawn by ECharts, whose script is
// in the page (nothing fetched).
func (r *Report) HTML(w io.Writer, title string, cmp *Comparison) error {
	var b strings.Builder
	fmt.Fprintf(&b, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%s</title>
<style>
body{font-family:sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
.best{font-weight:bold;background:#e8f5e9}
.bad{font-weight:bold;color:#b00}
figure{margin:1em 0}
</style></head><body>
<h1>%s</h1>
`, html.EscapeString(title), html.EscapeString(title))
	cols := r.columns(false)
	b.WriteString("<table>\n<tr><th>model</th>")
	for _, c := range cols {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(c.name))
	}
	b.WriteString("</tr>\n")
	marks := make([][]bool, len(cols))
	for j, c := range cols {
		marks[j] = best(r.Rows, c)
	}
	for i, x := range r.Rows {
		fmt.Fprintf(&b, "<tr><td>%s</td>", html.EscapeString(x.Model))
		for j, c := range cols {
			class := ""
			if marks[j][i] {
				class = ` class="best"`
			}
			fmt.Fprintf(&b, "<td%s>%s</td>", class, c.format(c.value(x)))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n<p>Sorted by requests per second; the best of each column is highlighted. Failures by kind come from Locust's failures CSV.</p>\n")
	r.serverHTML(&b)
	r.sweepHTML(&b)
	r.heldHTML(&b)
	r.repeatHTML(&b)
	if err := r.seedsHTML(&b); err != nil {
		return err
	}
	if len(r.Setups) > 0 {
		b.WriteString("<h2>Setup</h2>\n<ul>\n")
		for _, s := range r.Setups {
			fmt.Fprintf(&b, "<li>%s</li>\n", html.EscapeString(s.String()))
		}
		b.WriteString("</ul>\n")
	}
	if cmp != nil {
		fmt.Fprintf(&b, "<h2>Against the baseline</h2>\n<p>Regression: RPS down or p95 up by more than %g%%.</p>\n<table>\n<tr>", cmp.MaxRegressionPct)
		for _, h := range deltaHead {
			fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
		}
		b.WriteString("</tr>\n")
		for _, d := range cmp.Deltas {
			cells := d.cells()
			b.WriteString("<tr>")
			for k, cell := range cells {
				class := ""
				if k == len(cells)-1 && d.Regressed {
					class, cell = ` class="bad"`, "REGRESSED: "+d.Why
				}
				fmt.Fprintf(&b, "<td%s>%s</td>", class, html.EscapeString(cell))
			}
			b.WriteString("</tr>\n")
		}
		b.WriteString("</table>\n")
	}
	// ECharts itself, inline: the page opens offline, from anywhere.
	if charts := r.charts(); len(charts) > 0 {
		b.WriteString("<script>\n")
		b.WriteString(strings.ReplaceAll(echartsJS, "</script", "<\\/script"))
		b.WriteString("\n</script>\n")
		for i, ch := range charts {
			opt, err := ch.echartsOption()
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "<figure><div id=\"chart%d\" class=\"chart\" style=\"width:100%%;max-width:%dpx;height:%dpx\"></div><figcaption>%s</figcaption></figure>\n",
				i, chartW, chartH, html.EscapeString(ch.title))
			fmt.Fprintf(&b, "<script>echarts.init(document.getElementById(\"chart%d\")).setOption(%s);</script>\n", i, opt)
		}
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WritePNGs writes the charts as PNG and SVG files into dir and returns
// the PNGs' paths.
func (r *Report) WritePNGs(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, ch := range r.charts() {
		written, err := ch.write(dir)
		if err != nil {
			return nil, err
		}
		paths = append(paths, written[0])
	}
	return paths, nil
}
