// Package locustcsv reads the CSV files `locust --csv PREFIX` writes:
// PREFIX_stats.csv, PREFIX_stats_history.csv and PREFIX_failures.csv. It
// accepts the layouts of every supported Locust (2.12.1 to 2.47.0) by
// finding columns by name, and says which file, line and value is wrong
// when a file is not what Locust writes.
package locustcsv

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"serverlab/lab/regular"
)

// Entry is one row of _stats.csv. Times are milliseconds.
type Entry struct {
	Type, Name     string
	Requests       int
	Failures       int
	Median         float64
	Average        float64
	Min, Max       float64
	AvgSize        float64 // bytes
	RPS            float64
	FailuresPerSec float64
	P50, P95, P99  float64
	Percentiles    []Percentile // every percentile column, in file order
}

// Percentile is one "NN%" column.
type Percentile struct {
	Label string  // as in the header, e.g. "99.9%"
	Q     float64 // 0.999
	Value float64 // milliseconds
}

// Point is one Aggregated row of _stats_history.csv. Percentiles are NaN
// where Locust wrote N/A (no requests finished in that window).
type Point struct {
	Time           int64 // Unix seconds
	Users          int
	RPS            float64
	FailuresPerSec float64
	P50, P95, P99  float64
	Requests       int // totals so far
	Failures       int
}

// Failure is one row of _failures.csv.
type Failure struct {
	Method, Name, Error string
	Occurrences         int
}

// Run is everything one CSV prefix holds.
type Run struct {
	Name       string // the prefix's base name: the model for `lab run`
	Prefix     string
	Entries    []Entry // per request name, without the Aggregated row
	Aggregated Entry
	History    []Point // Aggregated rows only; may be empty
	Failures   []Failure
}

// Suffixes of the files ReadRun needs.
const (
	StatsSuffix    = "_stats.csv"
	HistorySuffix  = "_stats_history.csv"
	FailuresSuffix = "_failures.csv"
)

// ReadRun reads PREFIX_stats.csv, PREFIX_stats_history.csv and
// PREFIX_failures.csv. A run without requests is an error: there is
// nothing to compare.
func ReadRun(prefix string) (*Run, error) {
	r := &Run{Name: filepath.Base(prefix), Prefix: prefix}
	entries, err := ReadStats(prefix + StatsSuffix)
	if err != nil {
		return nil, err
	}
	agg := -1
	for i, e := range entries {
		if e.Name == "Aggregated" && e.Type == "" {
			agg = i
		}
	}
	if agg < 0 {
		return nil, fmt.Errorf("%s: no Aggregated row (truncated file?)", prefix+StatsSuffix)
	}
	r.Aggregated = entries[agg]
	r.Entries = append(entries[:agg:agg], entries[agg+1:]...)
	if r.Aggregated.Requests == 0 {
		return nil, fmt.Errorf("%s: empty run: the Aggregated row counts 0 requests", prefix+StatsSuffix)
	}
	if r.History, err = ReadHistory(prefix + HistorySuffix); err != nil {
		return nil, err
	}
	if r.Failures, err = ReadFailures(prefix + FailuresSuffix); err != nil {
		return nil, err
	}
	return r, nil
}

// table streams a CSV file: its header, indexed by lower-cased column
// name, then one row at a time, so that a file of any length takes the
// memory of one row.
type table struct {
	path     string
	cols     map[string]int
	head     []string
	cr       *csv.Reader
	f        *os.File
	rec      []string // the current row
	line     int      // its line in the file
	tolerant bool     // the file is being written: a row cut short ends it
}

// openTable opens a CSV file and reads its header. Only regular files are
// read (a FIFO would block), a UTF-8 byte order mark (spreadsheets write
// one) is skipped, and a column named twice is an error: which one Locust
// meant cannot be told.
func openTable(path string, tolerant bool) (*table, error) {
	f, err := regular.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: missing (not a Locust --csv output?): %w", path, fs.ErrNotExist)
		}
		return nil, err
	}
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1 // row lengths are checked below, with a better message
	cr.ReuseRecord = true
	t := &table{path: path, cols: map[string]int{}, cr: cr, f: f, tolerant: tolerant}
	head, err := cr.Read()
	if err == io.EOF {
		f.Close()
		return nil, fmt.Errorf("%s: empty file (no header)", path)
	}
	if err != nil {
		f.Close()
		return nil, t.parseError(err)
	}
	t.head = append([]string(nil), head...)
	t.head[0] = strings.TrimPrefix(t.head[0], "\ufeff")
	for i, h := range t.head {
		key := strings.ToLower(strings.TrimSpace(h))
		if j, dup := t.cols[key]; dup {
			f.Close()
			return nil, fmt.Errorf("%s:1: column %q twice (fields %d and %d): header is not one Locust writes", path, strings.TrimSpace(h), j+1, i+1)
		}
		t.cols[key] = i
	}
	return t, nil
}

func (t *table) parseError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%d: %w", t.path, pe.Line, pe.Err)
	}
	return fmt.Errorf("%s: %w", t.path, err)
}

// next moves to the next row; false at the end. In a tolerant table a row
// that does not parse or is short is the writer's unfinished last line,
// and ends the table.
func (t *table) next() (bool, error) {
	rec, err := t.cr.Read()
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		if t.tolerant {
			return false, nil
		}
		return false, t.parseError(err)
	}
	t.line, _ = t.cr.FieldPos(0)
	if len(rec) != len(t.head) {
		if t.tolerant {
			return false, nil
		}
		return false, fmt.Errorf("%s:%d: %d fields, the header has %d (truncated row?)", t.path, t.line, len(rec), len(t.head))
	}
	t.rec = rec
	return true, nil
}

func (t *table) close() { t.f.Close() }

// col finds the first of names (the spellings of several Locust versions).
func (t *table) col(names ...string) (int, error) {
	for _, n := range names {
		if i, ok := t.cols[strings.ToLower(n)]; ok {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s:1: no %q column: header is not one Locust writes", t.path, names[0])
}

// cols resolves many columns at once, keeping the first error.
type resolver struct {
	t   *table
	err error
}

func (r *resolver) col(names ...string) int {
	i, err := r.t.col(names...)
	if err != nil && r.err == nil {
		r.err = err
	}
	return i
}

// cell parsing, with the position in errors.
type rowReader struct {
	t   *table
	err error
}

func (r *rowReader) fail(col int, what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s:%d: %s %q is %s", r.t.path, r.t.line, r.t.head[col], r.t.rec[col], what)
	}
}

// str copies the cell: the reader reuses its row.
func (r *rowReader) str(col int) string { return strings.Clone(r.t.rec[col]) }

func (r *rowReader) int(col int) int {
	s := strings.TrimSpace(r.str(col))
	n, err := strconv.Atoi(s)
	if err != nil {
		// Some versions write counts as floats ("12.0").
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || f < 0 || f > math.MaxInt32*1e6 {
			r.fail(col, "not a whole number")
			return 0
		}
		n = int(f)
	}
	if n < 0 {
		r.fail(col, "negative")
	}
	return n
}

// float parses a number; N/A is NaN when na allows it.
func (r *rowReader) float(col int, na bool) float64 {
	s := strings.TrimSpace(r.str(col))
	if na && s == "N/A" {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		r.fail(col, "not a number")
		return 0
	}
	if f < 0 {
		r.fail(col, "negative")
	}
	return f
}

// percentileCols lists the "NN%" columns of a header in order.
func percentileCols(t *table) []Percentile {
	var ps []Percentile
	for _, h := range t.head {
		h = strings.TrimSpace(h)
		num, ok := strings.CutSuffix(h, "%")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v <= 0 || v > 100 {
			continue
		}
		ps = append(ps, Percentile{Label: h, Q: v / 100})
	}
	return ps
}

// ReadStats reads a _stats.csv, Aggregated row included.
func ReadStats(path string) ([]Entry, error) {
	t, err := openTable(path, false)
	if err != nil {
		return nil, err
	}
	defer t.close()
	rs := &resolver{t: t}
	cType, cName := rs.col("Type", "Method"), rs.col("Name")
	cReq := rs.col("Request Count", "# requests")
	cFail := rs.col("Failure Count", "# failures")
	cMed := rs.col("Median Response Time", "Median response time")
	cAvg := rs.col("Average Response Time", "Average response time")
	cMin := rs.col("Min Response Time", "Min response time")
	cMax := rs.col("Max Response Time", "Max response time")
	cSize := rs.col("Average Content Size")
	cRPS := rs.col("Requests/s")
	cFPS := rs.col("Failures/s")
	c50, c95, c99 := rs.col("50%"), rs.col("95%"), rs.col("99%")
	if rs.err != nil {
		return nil, rs.err
	}
	pcts := percentileCols(t)
	return readRows(t, func(r *rowReader) Entry {
		e := Entry{
			Type: r.str(cType), Name: r.str(cName),
			Requests: r.int(cReq), Failures: r.int(cFail),
			Median: r.float(cMed, false), Average: r.float(cAvg, false),
			Min: r.float(cMin, false), Max: r.float(cMax, false),
			AvgSize: r.float(cSize, false),
			RPS:     r.float(cRPS, false), FailuresPerSec: r.float(cFPS, false),
			// A row of no requests (the Aggregated row of a run in which
			// none finished) has N/A percentiles.
			P50: r.float(c50, true), P95: r.float(c95, true), P99: r.float(c99, true),
		}
		for _, p := range pcts {
			p.Value = r.float(t.cols[strings.ToLower(p.Label)], true)
			e.Percentiles = append(e.Percentiles, p)
		}
		if r.err == nil && e.Failures > e.Requests {
			r.err = fmt.Errorf("%s:%d: %d failures out of %d requests", path, t.line, e.Failures, e.Requests)
		}
		return e
	})
}

// Totals are the requests and failures of a _stats.csv's Aggregated row:
// the master's final word on a run.
func Totals(path string) (requests, failures int, err error) {
	entries, err := ReadStats(path)
	if err != nil {
		return 0, 0, err
	}
	for _, e := range entries {
		if e.Name == "Aggregated" && e.Type == "" {
			return e.Requests, e.Failures, nil
		}
	}
	return 0, 0, fmt.Errorf("%s: no Aggregated row (truncated file?)", path)
}

// MaxHistory bounds the points ReadHistory returns: a chart is a few
// hundred pixels wide, and a history of millions of rows must not take
// memory in proportion.
const MaxHistory = 2048

// ReadHistory reads the Aggregated rows of a _stats_history.csv. A file
// with its header and no rows, or only the all-zero first row (Debian's
// 2.12.1 writes that), is valid and gives no points worth drawing. Beyond
// MaxHistory rows, neighbouring rows are merged as they are read (see
// downsampler), so the file is streamed and never held.
func ReadHistory(path string) ([]Point, error) {
	return readHistory(path, false, MaxHistory)
}

// LastPoint is the newest Aggregated row of a _stats_history.csv that a
// running master may be writing: an unfinished last line is not an error,
// it is skipped.
func LastPoint(path string) (Point, bool) {
	pts, err := readHistory(path, true, 1)
	if err != nil || len(pts) == 0 {
		return Point{}, false
	}
	return pts[len(pts)-1], true
}

func readHistory(path string, tolerant bool, max int) ([]Point, error) {
	t, err := openTable(path, tolerant)
	if err != nil {
		return nil, err
	}
	defer t.close()
	rs := &resolver{t: t}
	cTime, cUsers := rs.col("Timestamp"), rs.col("User Count")
	cName := rs.col("Name")
	cRPS, cFPS := rs.col("Requests/s"), rs.col("Failures/s")
	c50, c95, c99 := rs.col("50%"), rs.col("95%"), rs.col("99%")
	cReq := rs.col("Total Request Count")
	cFail := rs.col("Total Failure Count")
	if rs.err != nil {
		return nil, rs.err
	}
	ds := newDownsampler(max)
	var last int64
	seen := false
	for {
		ok, err := t.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return ds.points(), nil
		}
		if t.rec[cName] != "Aggregated" {
			continue
		}
		r := &rowReader{t: t}
		p := Point{
			Users: r.int(cUsers),
			RPS:   r.float(cRPS, false), FailuresPerSec: r.float(cFPS, false),
			P50: r.float(c50, true), P95: r.float(c95, true), P99: r.float(c99, true),
			Requests: r.int(cReq), Failures: r.int(cFail),
		}
		p.Time = int64(r.int(cTime))
		if r.err != nil {
			if tolerant {
				return ds.points(), nil
			}
			return nil, r.err
		}
		if seen && p.Time < last {
			if tolerant {
				return ds.points(), nil
			}
			return nil, fmt.Errorf("%s:%d: Timestamp %d goes back in time", path, t.line, p.Time)
		}
		last, seen = p.Time, true
		ds.add(p)
	}
}

// downsampler keeps at most max points of a series of any length: each
// kept point stands for stride rows in a row, and when max are kept,
// neighbours are merged pairwise and stride doubles. A merged point
// starts at its first row's time, averages the rates and the median, keeps
// the worst p95 and p99 (a spike must stay visible), and ends with the
// last row's users and totals.
type downsampler struct {
	max, stride int
	out         []Point
	pend        Point
	pendN       int
}

func newDownsampler(max int) *downsampler {
	if max < 2 {
		// One point is the latest row, as it is.
		return &downsampler{max: 1, stride: 1}
	}
	return &downsampler{max: max - max%2, stride: 1}
}

func (d *downsampler) add(p Point) {
	if d.max == 1 {
		d.out = append(d.out[:0], p)
		return
	}
	if d.pendN == 0 {
		d.pend = p
	} else {
		d.pend = merge(d.pend, d.pendN, p, 1)
	}
	d.pendN++
	if d.pendN < d.stride {
		return
	}
	d.out = append(d.out, d.pend)
	d.pendN = 0
	if len(d.out) == d.max {
		for i := 0; i < d.max/2; i++ {
			d.out[i] = merge(d.out[2*i], d.stride, d.out[2*i+1], d.stride)
		}
		d.out = d.out[:d.max/2]
		d.stride *= 2
	}
}

func (d *downsampler) points() []Point {
	if d.pendN > 0 {
		return append(d.out, d.pend)
	}
	return d.out
}

// merge is a, standing for wa rows, followed by b, standing for wb.
func merge(a Point, wa int, b Point, wb int) Point {
	mean := func(x, y float64) float64 {
		switch {
		case math.IsNaN(x):
			return y
		case math.IsNaN(y):
			return x
		}
		return (x*float64(wa) + y*float64(wb)) / float64(wa+wb)
	}
	worst := func(x, y float64) float64 {
		if math.IsNaN(x) || y > x {
			return y
		}
		return x
	}
	return Point{
		Time: a.Time, Users: b.Users,
		RPS: mean(a.RPS, b.RPS), FailuresPerSec: mean(a.FailuresPerSec, b.FailuresPerSec),
		P50: mean(a.P50, b.P50), P95: worst(a.P95, b.P95), P99: worst(a.P99, b.P99),
		Requests: b.Requests, Failures: b.Failures,
	}
}

// ReadFailures reads a _failures.csv.
func ReadFailures(path string) ([]Failure, error) {
	t, err := openTable(path, false)
	if err != nil {
		return nil, err
	}
	defer t.close()
	rs := &resolver{t: t}
	cMethod, cName := rs.col("Method"), rs.col("Name")
	cErr, cOcc := rs.col("Error"), rs.col("Occurrences")
	if rs.err != nil {
		return nil, rs.err
	}
	return readRows(t, func(r *rowReader) Failure {
		f := Failure{Method: r.str(cMethod), Name: r.str(cName), Error: r.str(cErr), Occurrences: r.int(cOcc)}
		return f
	})
}

// Discover turns a command-line argument into CSV prefixes: a folder gives
// every PREFIX_stats.csv in it (a `lab run` output: one per model), sorted;
// anything else is a prefix itself (PREFIX or PREFIX_stats.csv).
func Discover(arg string) ([]string, error) {
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		m, err := filepath.Glob(filepath.Join(globEscape(arg), "*"+StatsSuffix))
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%s: no *%s in this folder (not a Locust --csv output)", arg, StatsSuffix)
		}
		sort.Strings(m)
		for i := range m {
			m[i] = strings.TrimSuffix(m[i], StatsSuffix)
		}
		return m, nil
	}
	prefix := strings.TrimSuffix(arg, StatsSuffix)
	if _, err := os.Stat(prefix + StatsSuffix); err != nil {
		return nil, fmt.Errorf("%s: no such folder, and no %s", arg, prefix+StatsSuffix)
	}
	return []string{prefix}, nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// readRows reads every row left in t into a T each; the first row that
// row cannot read (it sets r.err) ends the reading with that error.
func readRows[T any](t *table, row func(r *rowReader) T) ([]T, error) {
	var out []T
	for {
		ok, err := t.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		r := &rowReader{t: t}
		v := row(r)
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, v)
	}
}

// columns resolves names to their columns in t; the error names the first
// one missing.
func (t *table) columns(names ...string) (map[string]int, error) {
	rs := &resolver{t: t}
	c := make(map[string]int, len(names))
	for _, n := range names {
		c[n] = rs.col(n)
	}
	return c, rs.err
}
