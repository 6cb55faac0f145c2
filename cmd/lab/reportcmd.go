package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"serverlab/lab/locustcsv"
	"serverlab/lab/report"
)

const reportAbout = `
Writes a lab run folder's report again from what it holds (every
MODEL_stats.csv and meta.json): report.md, report.html and the PNG charts.
For a run made by an older lab, or one whose report was never written.
`

// reportMain is `lab report`: 0 done, 2 bad usage or input.
func reportMain(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("lab report")
	if err := fs.Parse(args); isHelp(err) {
		printHelp(stdout, fs, "lab report DIR", reportAbout)
		return 0
	} else if err != nil {
		fmt.Fprintf(stderr, "lab report: %v (lab report --help)\n", err)
		return 2
	}
	args = fs.Args()
	if len(args) != 1 {
		fmt.Fprintf(stderr, "lab report: want one run folder (lab report --help)\n")
		return 2
	}
	dir := args[0]
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "lab report: %s: not a folder\n", dir)
		return 2
	}
	prefixes, err := locustcsv.Discover(dir)
	if err != nil {
		fmt.Fprintf(stderr, "lab report: %v\n", err)
		return 2
	}
	var models []string
	for _, p := range prefixes {
		models = append(models, filepath.Base(p))
	}
	if err := report.WriteDir(dir, models); err != nil {
		fmt.Fprintf(stderr, "lab report: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "lab report: %s\n", filepath.Join(dir, "report.md"))
	return 0
}
