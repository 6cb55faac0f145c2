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
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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

// table is a CSV file with its header indexed by lower-cased column name.
type table struct {
	path string
	cols map[string]int
	head []string
	rows [][]string
	line []int // the file line of each row
}

func readTable(path string) (*table, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: missing (not a Locust --csv output?)", path)
		}
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1 // row lengths are checked below, with a better message
	t := &table{path: path, cols: map[string]int{}}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s:%d: %v", path, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		line, _ := cr.FieldPos(0)
		if t.head == nil {
			t.head = rec
			for i, h := range rec {
				t.cols[strings.ToLower(strings.TrimSpace(h))] = i
			}
			continue
		}
		if len(rec) != len(t.head) {
			return nil, fmt.Errorf("%s:%d: %d fields, the header has %d (truncated row?)", path, line, len(rec), len(t.head))
		}
		t.rows = append(t.rows, rec)
		t.line = append(t.line, line)
	}
	if t.head == nil {
		return nil, fmt.Errorf("%s: empty file (no header)", path)
	}
	return t, nil
}

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
	row int
	err error
}

func (r *rowReader) fail(col int, what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s:%d: %s %q is %s", r.t.path, r.t.line[r.row], r.t.head[col], r.t.rows[r.row][col], what)
	}
}

func (r *rowReader) str(col int) string { return r.t.rows[r.row][col] }

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
	t, err := readTable(path)
	if err != nil {
		return nil, err
	}
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
	var out []Entry
	for i := range t.rows {
		r := &rowReader{t: t, row: i}
		e := Entry{
			Type: r.str(cType), Name: r.str(cName),
			Requests: r.int(cReq), Failures: r.int(cFail),
			Median: r.float(cMed, false), Average: r.float(cAvg, false),
			Min: r.float(cMin, false), Max: r.float(cMax, false),
			AvgSize: r.float(cSize, false),
			RPS:     r.float(cRPS, false), FailuresPerSec: r.float(cFPS, false),
			P50: r.float(c50, false), P95: r.float(c95, false), P99: r.float(c99, false),
		}
		for _, p := range pcts {
			p.Value = r.float(t.cols[strings.ToLower(p.Label)], false)
			e.Percentiles = append(e.Percentiles, p)
		}
		if r.err == nil && e.Failures > e.Requests {
			r.err = fmt.Errorf("%s:%d: %d failures out of %d requests", path, t.line[i], e.Failures, e.Requests)
		}
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, e)
	}
	return out, nil
}

// ReadHistory reads the Aggregated rows of a _stats_history.csv. A file
// with its header and no rows, or only the all-zero first row (Debian's
// 2.12.1 writes that), is valid and gives no points worth drawing.
func ReadHistory(path string) ([]Point, error) {
	t, err := readTable(path)
	if err != nil {
		return nil, err
	}
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
	var out []Point
	for i := range t.rows {
		r := &rowReader{t: t, row: i}
		if r.str(cName) != "Aggregated" {
			continue
		}
		p := Point{
			Users: r.int(cUsers),
			RPS:   r.float(cRPS, false), FailuresPerSec: r.float(cFPS, false),
			P50: r.float(c50, true), P95: r.float(c95, true), P99: r.float(c99, true),
			Requests: r.int(cReq), Failures: r.int(cFail),
		}
		ts := r.int(cTime)
		p.Time = int64(ts)
		if r.err != nil {
			return nil, r.err
		}
		if n := len(out); n > 0 && p.Time < out[n-1].Time {
			return nil, fmt.Errorf("%s:%d: Timestamp %d goes back in time", path, t.line[i], p.Time)
		}
		out = append(out, p)
	}
	return out, nil
}

// ReadFailures reads a _failures.csv.
func ReadFailures(path string) ([]Failure, error) {
	t, err := readTable(path)
	if err != nil {
		return nil, err
	}
	rs := &resolver{t: t}
	cMethod, cName := rs.col("Method"), rs.col("Name")
	cErr, cOcc := rs.col("Error"), rs.col("Occurrences")
	if rs.err != nil {
		return nil, rs.err
	}
	var out []Failure
	for i := range t.rows {
		r := &rowReader{t: t, row: i}
		f := Failure{Method: r.str(cMethod), Name: r.str(cName), Error: r.str(cErr), Occurrences: r.int(cOcc)}
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, f)
	}
	return out, nil
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
