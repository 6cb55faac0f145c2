package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"serverlab/lab/locustcsv"
	"serverlab/lab/meta"
)

// ReadRuns reads the runs behind command-line arguments (folders or CSV
// prefixes, see locustcsv.Discover). When the arguments hold the same
// name more than once, each is labelled by its folder too.
func ReadRuns(args []string) ([]*locustcsv.Run, error) {
	var runs []*locustcsv.Run
	count := map[string]int{}
	for _, a := range args {
		prefixes, err := locustcsv.Discover(a)
		if err != nil {
			return nil, err
		}
		for _, p := range prefixes {
			run, err := locustcsv.ReadRun(p)
			if err != nil {
				return nil, err
			}
			runs = append(runs, run)
			count[run.Name]++
		}
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("no runs to compare")
	}
	seen := map[string]bool{}
	for _, run := range runs {
		if count[run.Name] > 1 {
			run.Name = filepath.Base(filepath.Dir(run.Prefix)) + "/" + run.Name
		}
		if seen[run.Name] {
			return nil, fmt.Errorf("%s: given twice", run.Prefix)
		}
		seen[run.Name] = true
	}
	return runs, nil
}

// WriteDir writes the report of a `lab run` folder into it: report.md,
// report.html and the charts' PNGs. models are the measured models, whose
// CSVs are dir/MODEL_*.csv.
func WriteDir(dir string, models []string) error {
	var runs []*locustcsv.Run
	for _, m := range models {
		run, err := locustcsv.ReadRun(filepath.Join(dir, m))
		if err != nil {
			return err
		}
		runs = append(runs, run)
	}
	if len(runs) == 0 {
		return fmt.Errorf("%s: no measured models to report", dir)
	}
	r := Build(runs)
	if err := r.LoadServers(); err != nil {
		return err
	}
	sl := DefaultServiceLevel
	if m, err := meta.Read(dir); err == nil {
		if p := m.Parameters.KneeFailPct; p != nil {
			sl.MaxFailPct = *p
		}
		if p := m.Parameters.KneeP95; p != nil {
			sl.MaxP95 = *p
		}
	}
	if err := r.LoadSweeps(sl); err != nil {
		return err
	}
	r.LoadRepeats()
	if err := r.LoadSeeds(); err != nil {
		return err
	}
	if len(r.Sweeps) > 0 {
		var k bytes.Buffer
		if err := r.KneeCSV(&k); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "knee.csv"), k.Bytes(), 0o644); err != nil {
			return err
		}
	}
	var md bytes.Buffer
	md.WriteString("# serverlab comparison\n\n")
	if err := r.Markdown(&md); err != nil {
		return err
	}
	md.WriteString("\n")
	for _, ch := range r.charts() {
		fmt.Fprintf(&md, "![%s](%s)\n", ch.title, ch.file)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	var page bytes.Buffer
	if err := r.HTML(&page, "serverlab comparison", nil); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.html"), page.Bytes(), 0o644); err != nil {
		return err
	}
	_, err := r.WritePNGs(dir)
	return err
}
