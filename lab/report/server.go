package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Server is what one model's target paid for its run, from the meta.json
// that `lab run` writes next to the CSVs: what Locust cannot see. Models
// that all keep up with the load differ here, in connections held, threads,
// processes, memory and CPU.
type Server struct {
	Accepted    float64  `json:"connections_accepted"`
	PeakActive  float64  `json:"peak_connections_active"`
	PeakThreads float64  `json:"peak_os_threads"`
	PeakChild   float64  `json:"peak_child_processes"`
	PeakRSSMiB  float64  `json:"peak_rss_mib"`
	PeakFDs     float64  `json:"peak_open_fds"`
	EMFILE      float64  `json:"accept_emfile"`
	CPUSeconds  *float64 `json:"cpu_seconds,omitempty"`
	CPUPercent  *float64 `json:"cpu_percent_of_one_core,omitempty"`
}

// metaRun is the part of a meta.json run that the report reads.
type metaRun struct {
	Model string             `json:"model"`
	Peaks map[string]float64 `json:"target_peaks"`
	Final map[string]float64 `json:"target_final"`
	CPU   *struct {
		Seconds float64 `json:"seconds"`
		Over    float64 `json:"over_seconds"`
	} `json:"target_cpu"`
}

// LoadServers fills r.Servers from the meta.json of each run's folder, for
// the runs that have one (a `lab run` folder); plain `locust --csv`
// exports have none, and get no server table.
func (r *Report) LoadServers() error {
	metas := map[string]map[string]metaRun{}
	for i, run := range r.Runs {
		dir := filepath.Dir(run.Prefix)
		byModel, ok := metas[dir]
		if !ok {
			var err error
			if byModel, err = readMeta(filepath.Join(dir, "meta.json")); err != nil {
				return err
			}
			metas[dir] = byModel
		}
		m, ok := byModel[filepath.Base(run.Prefix)]
		if !ok {
			continue
		}
		s := Server{
			Accepted:    m.Final["serverlab_connections_accepted_total"],
			PeakActive:  m.Peaks["serverlab_connections_active"],
			PeakThreads: m.Peaks["serverlab_os_threads"],
			PeakChild:   m.Peaks["serverlab_child_processes"],
			PeakRSSMiB:  m.Peaks["serverlab_resident_memory_bytes"] / (1 << 20),
			PeakFDs:     m.Peaks["serverlab_open_fds"],
			EMFILE:      m.Final[`serverlab_accept_errors_total{errno="EMFILE"}`],
		}
		if m.CPU != nil && m.CPU.Over > 0 {
			sec, pct := m.CPU.Seconds, 100*m.CPU.Seconds/m.CPU.Over
			s.CPUSeconds, s.CPUPercent = &sec, &pct
		}
		if r.Servers == nil {
			r.Servers = map[string]Server{}
		}
		r.Servers[r.Rows[i].Model] = s
	}
	return nil
}

// readMeta returns a meta.json's runs by model, or nothing when there is
// no meta.json.
func readMeta(path string) (map[string]metaRun, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var doc struct {
		Runs []metaRun `json:"runs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	out := map[string]metaRun{}
	for _, m := range doc.Runs {
		out[m.Model] = m
	}
	return out, nil
}

var serverHead = []string{"model", "accepted", "peak open conns", "peak threads", "peak child procs", "peak RSS MiB", "peak fds", "CPU s", "CPU % of a core", "EMFILE"}

// serverCells is one model's row of the server table; ok is false when the
// model has no server figures.
func (r *Report) serverCells(model string) ([]string, bool) {
	s, ok := r.Servers[model]
	if !ok {
		return nil, false
	}
	count := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	cpu, pct := "-", "-"
	if s.CPUSeconds != nil {
		cpu, pct = strconv.FormatFloat(*s.CPUSeconds, 'f', 1, 64), strconv.FormatFloat(*s.CPUPercent, 'f', 1, 64)
	}
	return []string{model, count(s.Accepted), count(s.PeakActive), count(s.PeakThreads), count(s.PeakChild),
		strconv.FormatFloat(s.PeakRSSMiB, 'f', 1, 64), count(s.PeakFDs), cpu, pct, count(s.EMFILE)}, true
}

const serverNote = "What each target paid, from its /metrics sampled during the run (peaks) and its process tree's CPU time under load, from the first requests to the end (children included)."

// serverMarkdown writes the server table, if there is one.
func (r *Report) serverMarkdown(w io.Writer) error {
	if len(r.Servers) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("\n" + serverNote + "\n\n| " + strings.Join(serverHead, " | ") + " |\n|---|")
	b.WriteString(strings.Repeat("---:|", len(serverHead)-1) + "\n")
	for _, x := range r.Rows {
		if cells, ok := r.serverCells(x.Model); ok {
			cells[0] = mdEscape(cells[0])
			b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// serverHTML writes the server table as HTML, if there is one.
func (r *Report) serverHTML(b *strings.Builder) {
	if len(r.Servers) == 0 {
		return
	}
	fmt.Fprintf(b, "<h2>The servers' side</h2>\n<p>%s</p>\n<table>\n<tr>", html.EscapeString(serverNote))
	for _, h := range serverHead {
		fmt.Fprintf(b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr>\n")
	for _, x := range r.Rows {
		if cells, ok := r.serverCells(x.Model); ok {
			b.WriteString("<tr>")
			for _, c := range cells {
				fmt.Fprintf(b, "<td>%s</td>", html.EscapeString(c))
			}
			b.WriteString("</tr>\n")
		}
	}
	b.WriteString("</table>\n")
}
