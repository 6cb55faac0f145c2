// Package seeds holds the numbers of the course reports serverlab
// reproduces (course.csv, copied from their tables): Python servers loaded
// by one Python Locust process with HttpUser, Stop pressed by hand. The
// report sets a seeds run beside them.
package seeds

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
)

//go:embed course.csv
var courseCSV string

// Row is one model of one course report. RPSLow and RPSHigh are equal
// where the report gave one figure; Requests and SpawnRate are 0 where it
// gave none.
type Row struct {
	Report      string  // A, B or C
	SpawnRate   float64 // users started a second (Locust's hatch rate)
	CourseModel string  // the report's name for it
	Model       string  // serverlab's model
	Requests    int
	RPSLow      float64
	RPSHigh     float64
	AvgMs       float64
	Failures    int
	Note        string
}

// Course is every row of course.csv, in its order.
func Course() ([]Row, error) {
	// A file in this package, not a Locust export: read here, not by
	// locustcsv.
	recs, err := csv.NewReader(strings.NewReader(courseCSV)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("lab/seeds/course.csv: %w", err)
	}
	var out []Row
	for i, r := range recs[1:] {
		if len(r) != 10 {
			return nil, fmt.Errorf("lab/seeds/course.csv:%d: %d fields", i+2, len(r))
		}
		num := func(s string) float64 {
			v, perr := strconv.ParseFloat(s, 64)
			if s != "" && perr != nil && err == nil {
				err = fmt.Errorf("lab/seeds/course.csv:%d: %q is not a number", i+2, s)
			}
			return v
		}
		row := Row{Report: r[0], SpawnRate: num(r[1]), CourseModel: r[2], Model: r[3], Requests: int(num(r[4])),
			RPSLow: num(r[5]), RPSHigh: num(r[6]), AvgMs: num(r[7]), Failures: int(num(r[8])), Note: r[9]}
		out = append(out, row)
	}
	return out, err
}
