package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"serverlab/lab/report"
)

const compareAbout = `
Compares Locust CSV exports: each DIR is a lab run folder (every
MODEL_stats.csv in it) or a locust --csv PREFIX. Prints one row per model
(the Aggregated stats, failures by kind), best RPS first. For a lab run
folder, a second table shows what each target paid: connections, threads,
processes, memory and CPU, from its meta.json, and a list says what each
folder ran (Locust, load, timeouts, on-EMFILE mode).

Exit status: 0 fine, 1 a regression against the baseline, 2 bad usage or input.
`

type compareFlags struct {
	dirs     []string
	format   string
	html     string
	png      string
	baseline string
	maxPct   string
}

// compareFlagSet defines lab compare's flags into f; their texts are the
// help.
func compareFlagSet(f *compareFlags) *flag.FlagSet {
	fs := newFlags("lab compare")
	fs.StringVar(&f.format, "format", "md", "output `FORMAT`: md, csv or json")
	fs.StringVar(&f.html, "html", "", "also write a self-contained HTML page with charts to `FILE`")
	fs.StringVar(&f.png, "png", "", "also write the charts as PNG files into `DIR`")
	fs.StringVar(&f.baseline, "baseline", "", "compare with an earlier run in `DIR`: deltas per model, and exit 1 when a model regressed or is gone")
	fs.StringVar(&f.maxPct, "max-regression", "10", "allowed RPS drop or p95 rise, `PCT` percent")
	return fs
}

// parseCompareFlags lets flags and folders mix in any order.
func parseCompareFlags(args []string) (*compareFlags, float64, error) {
	f := &compareFlags{}
	fs := compareFlagSet(f)
	for {
		if err := fs.Parse(args); err != nil {
			return nil, 0, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		f.dirs = append(f.dirs, args[0])
		args = args[1:]
	}
	switch f.format {
	case "md", "csv", "json":
	default:
		return nil, 0, fmt.Errorf("--format %q: want md, csv or json", f.format)
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(f.maxPct, "%"), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return nil, 0, fmt.Errorf("--max-regression %q: want a percentage such as 10", f.maxPct)
	}
	if len(f.dirs) == 0 {
		return nil, 0, errors.New("no DIR to compare")
	}
	return f, v, nil
}

// compareMain is `lab compare`: 0 done, 1 regressed, 2 bad usage or input.
func compareMain(args []string, stdout, stderr io.Writer) int {
	f, maxPct, err := parseCompareFlags(args)
	if isHelp(err) {
		printHelp(stdout, compareFlagSet(&compareFlags{}), "lab compare DIR... [flags]", compareAbout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "lab compare: %v (lab compare --help)\n", err)
		return 2
	}
	runs, err := report.ReadRuns(f.dirs)
	if err != nil {
		fmt.Fprintf(stderr, "lab compare: %v\n", err)
		return 2
	}
	r := report.Build(runs)
	if err := r.LoadServers(); err != nil {
		fmt.Fprintf(stderr, "lab compare: %v\n", err)
		return 2
	}
	var cmp *report.Comparison
	if f.baseline != "" {
		base, err := report.ReadRuns([]string{f.baseline})
		if err != nil {
			fmt.Fprintf(stderr, "lab compare: baseline: %v\n", err)
			return 2
		}
		cmp = report.Compare(r, report.Build(base), maxPct)
	}

	var out bytes.Buffer
	switch f.format {
	case "md":
		err = r.Markdown(&out)
		if err == nil && cmp != nil {
			out.WriteString("\n")
			err = cmp.Markdown(&out)
		}
	case "csv":
		if cmp != nil {
			err = cmp.CSV(&out)
		} else {
			err = r.CSV(&out)
		}
	case "json":
		err = r.JSON(&out, cmp)
	}
	if err == nil && f.html != "" {
		var page bytes.Buffer
		if err = r.HTML(&page, "serverlab comparison", cmp); err == nil {
			err = os.WriteFile(f.html, page.Bytes(), 0o644)
		}
	}
	if err == nil && f.png != "" {
		_, err = r.WritePNGs(f.png)
	}
	if err != nil {
		fmt.Fprintf(stderr, "lab compare: %v\n", err)
		return 2
	}
	if _, err := stdout.Write(out.Bytes()); err != nil {
		fmt.Fprintf(stderr, "lab compare: %v\n", err)
		return 2
	}
	if cmp != nil {
		if regs := cmp.Regressions(); len(regs) > 0 {
			for _, line := range regs {
				fmt.Fprintf(stderr, "lab compare: regression: %s\n", line)
			}
			return 1
		}
	}
	return 0
}
