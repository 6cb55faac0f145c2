package report

import (
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"serverlab/lab/meta"
)

// Server is what one model's target paid for its run, from the meta.json
// that `lab run` writes next to the CSVs: what Locust cannot see. Models
// that all keep up with the load differ here, in connections held, threads,
// processes, memory and CPU.
type Server struct {
	OnEMFILE    string   `json:"on_emfile,omitempty"`
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

// LoadServers fills r.Servers from the meta.json of each run's folder, for
// the runs that have one (a `lab run` folder), and r.Setups with what each
// such folder ran; plain `locust --csv` exports have none, and get no
// server table.
func (r *Report) LoadServers() error {
	metas := map[string]map[string]meta.ModelRun{}
	for i, run := range r.Runs {
		dir := filepath.Dir(run.Prefix)
		byRun, ok := metas[dir]
		if !ok {
			m, err := meta.Read(dir)
			switch {
			case errors.Is(err, fs.ErrNotExist):
			case err != nil:
				return err
			default:
				byRun = map[string]meta.ModelRun{}
				for _, mr := range m.Runs {
					byRun[mr.Label()] = mr
				}
				r.Setups = append(r.Setups, setupOf(dir, m))
			}
			metas[dir] = byRun
		}
		m, ok := byRun[filepath.Base(run.Prefix)]
		if !ok {
			continue
		}
		s := Server{
			OnEMFILE:    m.OnEMFILE,
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

// Setup is what one lab run folder ran: the load, the users' timeouts and
// what its targets did at EMFILE, so that runs that differ in these are
// told apart.
type Setup struct {
	Folder          string    `json:"folder"`
	Locust          string    `json:"locust"`
	UserClass       string    `json:"user_class"`
	Users           int       `json:"users"`
	SpawnRate       float64   `json:"spawn_rate"`
	RunTime         string    `json:"run_time"`
	ConnectTimeout  *float64  `json:"connect_timeout_s"`
	ResponseTimeout *float64  `json:"response_timeout_s"`
	OnEMFILE        []string  `json:"on_emfile"`
	Sweep           []int     `json:"sweep,omitempty"`
	SweepRPS        []float64 `json:"sweep_rps,omitempty"`
	Generator       string    `json:"generator,omitempty"`
	Workers         int       `json:"workers"`
	SpawnRates      []float64 `json:"spawn_rates,omitempty"`
}

func setupOf(dir string, m *meta.Meta) Setup {
	p := m.Parameters
	return Setup{Folder: dir, Locust: m.Locust.Version, UserClass: p.UserClass, Users: p.Users,
		SpawnRate: p.SpawnRate, RunTime: p.RunTime,
		ConnectTimeout: p.ConnectTimeout, ResponseTimeout: p.ResponseTimeout, OnEMFILE: p.OnEMFILE,
		Sweep: p.Sweep, SweepRPS: p.SweepRPS, Generator: p.Generator, Workers: p.Workers, SpawnRates: p.SpawnRates}
}

// String is the setup in one sentence.
func (s Setup) String() string {
	secs := func(v *float64) string {
		if v == nil {
			return "none"
		}
		return strconv.FormatFloat(*v, 'g', -1, 64) + " s"
	}
	emfile := "wait (the only mode of its bin/target)"
	if len(s.OnEMFILE) > 0 {
		emfile = strings.Join(s.OnEMFILE, " and ")
	}
	rate := strconv.FormatFloat(s.SpawnRate, 'g', -1, 64)
	if len(s.SpawnRates) > 0 {
		var rs []string
		for _, r := range s.SpawnRates {
			rs = append(rs, strconv.FormatFloat(r, 'g', -1, 64))
		}
		rate = strings.Join(rs, " and ")
	}
	load := fmt.Sprintf("%d %s users (%s a second), %s a model", s.Users, s.UserClass, rate, s.RunTime)
	if len(s.Sweep) > 0 {
		steps := make([]string, len(s.Sweep))
		for i, u := range s.Sweep {
			steps[i] = strconv.Itoa(u)
		}
		load = fmt.Sprintf("a sweep of %s %s users (ramps at %g a second), each step held %s", strings.Join(steps, ", "), s.UserClass, s.SpawnRate, s.RunTime)
	}
	if len(s.SweepRPS) > 0 {
		steps := make([]string, len(s.SweepRPS))
		for i, r := range s.SweepRPS {
			steps[i] = strconv.FormatFloat(r, 'g', -1, 64)
		}
		load = fmt.Sprintf("a rate sweep of %s requests a second (an open model: a pool of %d %s users spawned at %g a second, the rate held whatever the latency), each step held %s",
			strings.Join(steps, ", "), s.Users, s.UserClass, s.SpawnRate, s.RunTime)
	}
	gen := ""
	switch s.Generator {
	case "python":
		gen = fmt.Sprintf("; generator: %d Python Locust worker(s)", s.Workers)
	case "both":
		gen = fmt.Sprintf("; generators: %d Go and %d Python worker(s), each model run with each", s.Workers, s.Workers)
	}
	return fmt.Sprintf("%s: Locust %s, %s; timeouts: connect %s, response %s; on EMFILE: %s%s",
		filepath.Base(s.Folder), s.Locust, load, secs(s.ConnectTimeout), secs(s.ResponseTimeout), emfile, gen)
}

var serverHead = []string{"model", "accepted", "peak open conns", "peak threads", "peak child procs", "peak RSS MiB", "peak fds", "CPU s", "CPU % of a core", "EMFILE"}

// withMode says whether the server table needs an "on EMFILE" column: when
// any run says what its target did.
func (r *Report) withMode() bool {
	for _, s := range r.Servers {
		if s.OnEMFILE != "" {
			return true
		}
	}
	return false
}

func (r *Report) serverHead() []string {
	if r.withMode() {
		return append([]string{serverHead[0], "on EMFILE"}, serverHead[1:]...)
	}
	return serverHead
}

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
	cells := []string{model}
	if r.withMode() {
		mode := s.OnEMFILE
		if mode == "" {
			mode = "-"
		}
		cells = append(cells, mode)
	}
	return append(cells, count(s.Accepted), count(s.PeakActive), count(s.PeakThreads), count(s.PeakChild),
		strconv.FormatFloat(s.PeakRSSMiB, 'f', 1, 64), count(s.PeakFDs), cpu, pct, count(s.EMFILE)), true
}

const serverNote = "What each target paid, from its /metrics sampled during the run (peaks) and its process tree's CPU time under load, from the first requests to the end (children included)."

// serverMarkdown writes the server table, if there is one.
func (r *Report) serverMarkdown(w io.Writer) error {
	if len(r.Servers) == 0 {
		return nil
	}
	var b strings.Builder
	head := r.serverHead()
	b.WriteString("\n" + serverNote + "\n\n| " + strings.Join(head, " | ") + " |\n|---|")
	if r.withMode() {
		b.WriteString("---|")
	}
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
	for _, h := range r.serverHead() {
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
