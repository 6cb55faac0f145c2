package report

import (
	"image/color"
	"math"
	"strconv"
)

// Chart size and plot margins, shared by SVG and PNG.
const (
	chartW, chartH         = 800, 360
	padL, padR, padT, padB = 64, 150, 32, 44
	plotW, plotH           = chartW - padL - padR, chartH - padT - padB
	legendX                = chartW - padR + 16
	// glyphAdvance is about how wide a character of a label is: 6 px in
	// the PNGs' font, 7 in the SVGs' 12 px sans-serif.
	glyphAdvance = 7
)

var (
	ink     = color.RGBA{0x22, 0x22, 0x22, 255}
	gridCol = color.RGBA{0xdd, 0xdd, 0xdd, 255}
	palette = []color.RGBA{
		{0x1f, 0x77, 0xb4, 255}, {0xff, 0x7f, 0x0e, 255}, {0x2c, 0xa0, 0x2c, 255},
		{0xd6, 0x27, 0x28, 255}, {0x94, 0x67, 0xbd, 255}, {0x8c, 0x56, 0x4b, 255},
		{0xe3, 0x77, 0xc2, 255}, {0x7f, 0x7f, 0x7f, 255}, {0xbc, 0xbd, 0x22, 255},
		{0x17, 0xbe, 0xcf, 255}, {0x39, 0x3b, 0x79, 255}, {0x63, 0x79, 0x39, 255},
		{0x84, 0x3c, 0x39, 255},
	}
)

func colorOf(i int) color.RGBA { return palette[i%len(palette)] }

// niceStep rounds a tick step to 1, 2 or 5 times a power of ten.
func niceStep(span float64, ticks int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(ticks)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// short formats an axis label: 1500 -> 1.5k.
func short(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// frame draws the title, y grid with labels and axis titles; it returns
// the y scale's top value.
func frame(c canvas, title, xTitle, yTitle string, yMax float64) float64 {
	step := niceStep(yMax, 5)
	top := math.Max(step, math.Ceil(yMax/step)*step)
	var ticks []float64
	for v := 0.0; v <= top+step/2; v += step {
		ticks = append(ticks, v)
	}
	axes(c, title, xTitle, yTitle, ticks, func(v float64) float64 { return v / top })
	return top
}

// logFloor is the bottom of a logarithmic axis: a bar at or below it has
// no height.
const logFloor = 0.1

// logFrame is frame with a logarithmic y axis, a tick at each power of
// ten, for values that span from a fraction of a millisecond to a minute;
// it returns the scale: a value's height as a fraction of the plot's.
func logFrame(c canvas, title, yTitle string, yMax float64) func(float64) float64 {
	top := logFloor * 10
	for top < yMax {
		top *= 10
	}
	span := math.Log10(top / logFloor)
	scale := func(v float64) float64 {
		if v <= logFloor {
			return 0
		}
		return math.Log10(v/logFloor) / span
	}
	var ticks []float64
	for v := logFloor; v <= top*1.01; v *= 10 {
		ticks = append(ticks, v)
	}
	axes(c, title, "", yTitle+" (log)", ticks, scale)
	return scale
}

// axes draws the title, the y grid at ticks placed by scale, and the axes.
func axes(c canvas, title, xTitle, yTitle string, ticks []float64, scale func(float64) float64) {
	c.text(chartW/2, 18, title, ink, 1)
	for _, v := range ticks {
		y := padT + plotH - scale(v)*plotH
		c.line(padL, y, padL+plotW, y, gridCol, 1)
		c.text(padL-6, y+4, short(v), ink, 2)
	}
	c.line(padL, padT, padL, padT+plotH, ink, 1)
	c.line(padL, padT+plotH, padL+plotW, padT+plotH, ink, 1)
	c.text(padL+plotW/2, chartH-6, xTitle, ink, 1)
	c.text(8, padT-10, yTitle, ink, 0)
}

func legend(c canvas, i int, name string) {
	y := float64(padT + 8 + i*18)
	c.rect(legendX, y-8, 12, 10, colorOf(i))
	c.text(legendX+18, y+1, name, ink, 0)
}

// series is one model's line over time.
type series struct {
	name string
	x, y []float64 // NaN y values are gaps
}

// thin keeps, of each of n equal slices of the x range, the lowest and
// the highest point, in order: a line through them looks as the full
// series would at that width, spikes included, and costs at most 2n
// points however long the run was.
func thin(s series, xMax float64, n int) series {
	if len(s.x) <= 2*n || xMax <= 0 {
		return s
	}
	out := series{name: s.name}
	bucket, lo, hi := -1, -1, -1
	flush := func() {
		switch {
		case lo < 0:
		case lo == hi:
			out.x, out.y = append(out.x, s.x[lo]), append(out.y, s.y[lo])
		default:
			a, b := min(lo, hi), max(lo, hi)
			out.x, out.y = append(out.x, s.x[a], s.x[b]), append(out.y, s.y[a], s.y[b])
		}
		lo, hi = -1, -1
	}
	for i := range s.x {
		k := min(int(s.x[i]/xMax*float64(n)), n-1)
		if k != bucket {
			flush()
			bucket = k
		}
		if math.IsNaN(s.y[i]) {
			// A gap stays a gap.
			flush()
			if n := len(out.y); n == 0 || !math.IsNaN(out.y[n-1]) {
				out.x, out.y = append(out.x, s.x[i]), append(out.y, math.NaN())
			}
			continue
		}
		if lo < 0 || s.y[i] < s.y[lo] {
			lo = i
		}
		if hi < 0 || s.y[i] > s.y[hi] {
			hi = i
		}
	}
	flush()
	return out
}

// lineChart draws series against seconds since each run's start, each
// thinned to two points per two pixels.
func lineChart(c canvas, title, yTitle string, ss []series) {
	var xMax, yMax float64
	points := 0
	for _, s := range ss {
		for i := range s.x {
			if math.IsNaN(s.y[i]) {
				continue
			}
			points++
			xMax, yMax = math.Max(xMax, s.x[i]), math.Max(yMax, s.y[i])
		}
	}
	top := frame(c, title, "seconds since start", yTitle, yMax)
	if points == 0 {
		c.text(padL+plotW/2, padT+plotH/2, "no history rows to draw", ink, 1)
	}
	xStep := niceStep(xMax, 8)
	xTop := math.Max(xStep, math.Ceil(xMax/xStep)*xStep)
	for v := 0.0; v <= xTop+xStep/2; v += xStep {
		x := padL + v/xTop*plotW
		c.line(x, padT+plotH, x, padT+plotH+4, ink, 1)
		c.text(x, padT+plotH+16, short(v), ink, 1)
	}
	for i, s := range ss {
		s = thin(s, xMax, plotW/2)
		col := colorOf(i)
		px, py, have := 0.0, 0.0, false
		for j := range s.x {
			if math.IsNaN(s.y[j]) {
				have = false
				continue
			}
			x := padL + s.x[j]/xTop*plotW
			y := padT + plotH - s.y[j]/top*plotH
			if have {
				c.line(px, py, x, y, col, 2)
			} else {
				c.rect(x-1.5, y-1.5, 3, 3, col)
			}
			px, py, have = x, y, true
		}
		legend(c, i, s.name)
	}
}

// barSet is one measure across models, e.g. p95.
type barSet struct {
	name   string
	values []float64 // one per model
}

// barChart draws grouped bars: one group per model, one bar per set, on a
// logarithmic axis when logY.
func barChart(c canvas, title, yTitle string, models []string, sets []barSet, logY bool) {
	var yMax float64
	for _, s := range sets {
		for _, v := range s.values {
			yMax = math.Max(yMax, v)
		}
	}
	var scale func(float64) float64
	if logY {
		scale = logFrame(c, title, yTitle, yMax)
	} else {
		top := frame(c, title, "", yTitle, yMax)
		scale = func(v float64) float64 { return v / top }
	}
	if len(models) == 0 {
		return
	}
	group := float64(plotW) / float64(len(models))
	barW := group * 0.8 / float64(len(sets))
	// Names wider than their group go on two staggered rows.
	stagger := false
	for _, name := range models {
		if float64(len(name)*glyphAdvance) > group-4 {
			stagger = true
		}
	}
	for m, name := range models {
		gx := padL + float64(m)*group + group*0.1
		for i, s := range sets {
			h := scale(s.values[m]) * plotH
			c.rect(gx+float64(i)*barW, padT+plotH-h, barW-1, h, colorOf(i))
		}
		y := float64(padT + plotH + 16)
		if stagger && m%2 == 1 {
			y += 14
		}
		c.text(padL+float64(m)*group+group/2, y, name, ink, 1)
	}
	if len(sets) > 1 {
		for i, s := range sets {
			legend(c, i, s.name)
		}
	}
}

// chart is one figure of the report, drawable on either canvas.
type chart struct {
	file  string // PNG file name
	title string
	draw  func(canvas)
}

// charts are the report's figures: RPS and p95 over time, RPS and
// latency percentiles per model.
func (r *Report) charts() []chart {
	var rps, p95 []series
	var models []string
	var rpsBars, med, p95s, p99s []float64
	for i, run := range r.Runs {
		rs := series{name: run.Name}
		ps := series{name: run.Name}
		// A lone row is Locust's all-zero start (all Debian's 2.12.1
		// writes headless): nothing to draw.
		hist := run.History
		if len(hist) < 2 {
			hist = nil
		}
		for _, p := range hist {
			t := float64(p.Time - hist[0].Time)
			rs.x, rs.y = append(rs.x, t), append(rs.y, p.RPS)
			ps.x, ps.y = append(ps.x, t), append(ps.y, p.P95)
		}
		rps, p95 = append(rps, rs), append(p95, ps)
		models = append(models, run.Name)
		row := r.Rows[i]
		rpsBars = append(rpsBars, row.RPS)
		med, p95s, p99s = append(med, row.Median), append(p95s, row.P95), append(p99s, row.P99)
	}
	charts := []chart{
		{"rps-over-time.png", "Requests per second over time", func(c canvas) {
			lineChart(c, "Requests per second over time", "req/s", rps)
		}},
		{"p95-over-time.png", "p95 response time over time", func(c canvas) {
			lineChart(c, "p95 response time over time", "ms", p95)
		}},
		{"rps.png", "Requests per second", func(c canvas) {
			barChart(c, "Requests per second", "req/s", models, []barSet{{"RPS", rpsBars}}, false)
		}},
		{"latency.png", "Response time percentiles", func(c canvas) {
			barChart(c, "Response time percentiles", "ms", models,
				[]barSet{{"median", med}, {"p95", p95s}, {"p99", p99s}}, true)
		}},
	}
	// What the servers paid, when the runs carry it (a lab run folder).
	var cpu []float64
	for _, row := range r.Rows {
		if s, ok := r.Servers[row.Model]; ok && s.CPUPercent != nil {
			cpu = append(cpu, *s.CPUPercent)
		} else {
			cpu = append(cpu, 0)
		}
	}
	if len(r.Servers) > 0 {
		charts = append(charts, chart{"cpu.png", "Server CPU, % of one core", func(c canvas) {
			barChart(c, "Server CPU, % of one core", "%", models, []barSet{{"CPU", cpu}}, false)
		}})
	}
	return charts
}
