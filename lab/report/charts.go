package report

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Chart size: PNG pixels at 96 dpi, and the HTML charts' height.
const (
	chartW, chartH = 960, 432
	// plotW is about the plotting area's width in pixels: a line is
	// thinned to two points per two pixels of it.
	plotW = 800
	dpi   = 96
)

// palette is ECharts' and the PNGs' series colours, so that a model has
// the same colour in both.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 255}, {0xff, 0x7f, 0x0e, 255}, {0x2c, 0xa0, 0x2c, 255},
	{0xd6, 0x27, 0x28, 255}, {0x94, 0x67, 0xbd, 255}, {0x8c, 0x56, 0x4b, 255},
	{0xe3, 0x77, 0xc2, 255}, {0x7f, 0x7f, 0x7f, 255}, {0xbc, 0xbd, 0x22, 255},
	{0x17, 0xbe, 0xcf, 255}, {0x39, 0x3b, 0x79, 255}, {0x63, 0x79, 0x39, 255},
	{0x84, 0x3c, 0x39, 255},
}

func colorOf(i int) color.RGBA { return palette[i%len(palette)] }

func hex(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// logFloor is the bottom of a logarithmic axis: values at or below it are
// drawn at it (a 0 ms latency has no logarithm).
const logFloor = 0.1

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

// barSet is one measure across models, e.g. p95.
type barSet struct {
	name   string
	values []float64 // one per model
}

// chart is one figure of the report: lines on a numeric x axis, or bars
// per category. PNG and SVG are drawn by gonum/plot, the HTML page's
// interactive charts by ECharts.
type chart struct {
	file           string // PNG file name; the SVG has the same stem
	title          string
	xTitle, yTitle string
	logX, logY     bool
	lines          []series
	points         bool // mark each point (few of them: a sweep's steps)
	cats           []string
	bars           []barSet
	empty          string // said on the chart when there is nothing to draw
}

func (c *chart) isEmpty() bool {
	for _, s := range c.lines {
		for _, y := range s.y {
			if !math.IsNaN(y) {
				return false
			}
		}
	}
	return len(c.bars) == 0 || len(c.cats) == 0
}

// floor keeps a value drawable on a logarithmic axis.
func floor(v float64, log bool) float64 {
	if log && v <= logFloor {
		return logFloor
	}
	return v
}

// plot draws the chart with gonum/plot.
func (c *chart) plot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = c.title
	p.X.Label.Text = c.xTitle
	p.Y.Label.Text = c.yTitle
	p.Legend.Top = true
	p.Legend.Left = false
	p.Add(plotter.NewGrid())
	if c.logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Label.Text += " (log)"
	}
	if c.logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.X.Label.Text += " (log)"
	}
	if c.isEmpty() && c.empty != "" {
		p.Title.Text += " (" + c.empty + ")"
	}
	if len(c.bars) > 0 {
		if c.logY {
			// Bars grow from 0, which no logarithmic axis holds: they
			// are drawn as decades above logFloor on a linear axis.
			p.Y.Scale = plot.LinearScale{}
			p.Y.Tick.Marker = decades{}
		}
		if err := c.plotBars(p); err != nil {
			return nil, err
		}
		return p, fixRanges(p, c)
	}
	defer fixRanges(p, c)
	xMax := 0.0
	for _, s := range c.lines {
		for _, x := range s.x {
			xMax = math.Max(xMax, x)
		}
	}
	for i, s := range c.lines {
		if !c.points {
			s = thin(s, xMax, plotW/2)
		}
		col := colorOf(i)
		var legendThumb plot.Thumbnailer
		// A NaN is a gap: each run of numbers is its own line.
		var seg plotter.XYs
		flush := func() {
			if len(seg) == 0 {
				return
			}
			l, sc, err := plotter.NewLinePoints(seg)
			if err != nil {
				return
			}
			l.Color, l.Width = col, vg.Points(1.5)
			sc.Color, sc.Shape = col, draw.CircleGlyph{}
			sc.Radius = vg.Points(1)
			if c.points || len(seg) == 1 {
				sc.Radius = vg.Points(2.5)
			}
			p.Add(l, sc)
			if legendThumb == nil {
				legendThumb = l
			}
			seg = nil
		}
		for j := range s.x {
			x, y := s.x[j], s.y[j]
			if math.IsNaN(y) || (c.logX && x <= 0) {
				flush()
				continue
			}
			seg = append(seg, plotter.XY{X: x, Y: floor(y, c.logY)})
		}
		flush()
		if legendThumb != nil {
			p.Legend.Add(s.name, legendThumb)
		}
	}
	return p, nil
}

// decades labels a linear axis of log10(v/logFloor) with the values.
type decades struct{}

func (decades) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for k := 0.0; k <= math.Ceil(max); k++ {
		ts = append(ts, plot.Tick{Value: k, Label: strconv.FormatFloat(logFloor*math.Pow(10, k), 'g', -1, 64)})
	}
	return ts
}

// fixRanges keeps the axes drawable: a logarithmic axis starts above 0
// (bars start at 0), and an axis with nothing on it still has a range.
func fixRanges(p *plot.Plot, c *chart) error {
	for _, a := range []struct {
		axis *plot.Axis
		log  bool
	}{{&p.X, c.logX}, {&p.Y, c.logY}} {
		ax := a.axis
		if math.IsInf(ax.Min, 0) || math.IsNaN(ax.Min) || math.IsInf(ax.Max, 0) || math.IsNaN(ax.Max) {
			ax.Min, ax.Max = 0, 1
		}
		if a.log && (len(c.bars) == 0 || ax == &p.X) {
			ax.Min = math.Max(ax.Min, logFloor)
			ax.Max = math.Max(ax.Max, ax.Min*10)
		} else if ax.Max <= ax.Min {
			ax.Max = ax.Min + 1
		}
	}
	return nil
}

func (c *chart) plotBars(p *plot.Plot) error {
	n := len(c.bars)
	w := vg.Points(math.Max(4, 480/float64(max(1, len(c.cats)*n))))
	for i, set := range c.bars {
		vals := make(plotter.Values, len(set.values))
		for j, v := range set.values {
			vals[j] = v
			if c.logY {
				vals[j] = math.Log10(floor(v, true) / logFloor)
			}
		}
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		b.Color, b.LineStyle.Width = colorOf(i), 0
		b.Offset = w * vg.Length(float64(i)-float64(n-1)/2)
		p.Add(b)
		if n > 1 {
			p.Legend.Add(set.name, b)
		}
	}
	p.NominalX(c.cats...)
	if len(c.cats) > 6 {
		p.X.Tick.Label.Rotation = math.Pi / 5
		p.X.Tick.Label.XAlign = draw.XRight
	}
	return nil
}

// write saves the chart as PNG and SVG into dir.
func (c *chart) write(dir string) ([]string, error) {
	p, err := c.plot()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.file, err)
	}
	w, h := vg.Length(chartW)*vg.Inch/dpi, vg.Length(chartH)*vg.Inch/dpi
	var paths []string
	for _, ext := range []string{".png", ".svg"} {
		path := filepath.Join(dir, strings.TrimSuffix(c.file, ".png")+ext)
		wt, err := p.WriterTo(w, h, ext[1:])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var buf bytes.Buffer
		if _, err := wt.WriteTo(&buf); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

//go:embed echarts/echarts.common.min.js
var echartsJS string

// echartsOption is the chart as an ECharts option: JSON for setOption.
func (c *chart) echartsOption() ([]byte, error) {
	axis := func(log, category bool, name string) map[string]any {
		a := map[string]any{"type": "value", "name": name, "nameLocation": "middle", "nameGap": 30, "scale": false}
		switch {
		case category:
			a["type"] = "category"
		case log:
			a["type"] = "log"
			a["logBase"] = 10
		}
		return a
	}
	var colors []string
	for i := range palette {
		colors = append(colors, hex(colorOf(i)))
	}
	title := c.title
	if c.isEmpty() && c.empty != "" {
		title += " (" + c.empty + ")"
	}
	opt := map[string]any{
		"color":     colors,
		"animation": false,
		"title":     map[string]any{"text": title, "left": "center", "textStyle": map[string]any{"fontSize": 14}},
		"tooltip":   map[string]any{"trigger": "axis"},
		"legend":    map[string]any{"type": "scroll", "orient": "vertical", "right": 0, "top": 30},
		"grid":      map[string]any{"left": 70, "right": 170, "top": 40, "bottom": 60},
		"toolbox":   map[string]any{"feature": map[string]any{"dataZoom": map[string]any{}, "restore": map[string]any{}, "saveAsImage": map[string]any{}}},
	}
	var series []map[string]any
	if len(c.bars) > 0 {
		opt["xAxis"] = axis(false, true, c.xTitle)
		opt["xAxis"].(map[string]any)["data"] = c.cats
		opt["xAxis"].(map[string]any)["axisLabel"] = map[string]any{"interval": 0, "rotate": 30}
		opt["yAxis"] = axis(c.logY, false, c.yTitle)
		for _, set := range c.bars {
			data := make([]any, len(set.values))
			for j, v := range set.values {
				data[j] = jsonNum(floor(v, c.logY))
			}
			series = append(series, map[string]any{"type": "bar", "name": set.name, "data": data})
		}
	} else {
		opt["xAxis"] = axis(c.logX, false, c.xTitle)
		opt["yAxis"] = axis(c.logY, false, c.yTitle)
		opt["dataZoom"] = []map[string]any{{"type": "inside"}}
		xMax := 0.0
		for _, s := range c.lines {
			for _, x := range s.x {
				xMax = math.Max(xMax, x)
			}
		}
		for _, s := range c.lines {
			if !c.points {
				s = thin(s, xMax, plotW/2)
			}
			data := make([]any, 0, len(s.x))
			for j := range s.x {
				if c.logX && s.x[j] <= 0 {
					continue
				}
				if math.IsNaN(s.y[j]) {
					data = append(data, []any{s.x[j], nil})
					continue
				}
				data = append(data, []any{s.x[j], jsonNum(floor(s.y[j], c.logY))})
			}
			series = append(series, map[string]any{"type": "line", "name": s.name, "data": data,
				"showSymbol": c.points, "connectNulls": false})
		}
	}
	opt["series"] = series
	return json.Marshal(opt)
}

// jsonNum rounds a value for the page: 4 significant digits are plenty
// on a chart, and keep long runs' pages small.
func jsonNum(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	mag := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*mag) / mag
}
