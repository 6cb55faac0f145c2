package report

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// HTML writes one self-contained page: the table, the baseline deltas when
// cmp is not nil, and the charts as inline SVG (nothing fetched).
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
	for _, ch := range r.charts() {
		svg := newSVG(chartW, chartH)
		ch.draw(svg)
		fmt.Fprintf(&b, "<figure>\n%s<figcaption>%s</figcaption></figure>\n", svg, html.EscapeString(ch.title))
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WritePNGs writes the charts as PNG files into dir and returns their paths.
func (r *Report) WritePNGs(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, ch := range r.charts() {
		rc := newRaster(chartW, chartH)
		ch.draw(rc)
		var buf bytes.Buffer
		if err := rc.writePNG(&buf); err != nil {
			return nil, err
		}
		p := filepath.Join(dir, ch.file)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
