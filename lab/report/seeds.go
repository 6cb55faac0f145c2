package report

import (
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"math"
	"sort"
	"strconv"
	"strings"

	"serverlab/lab/locustcsv"
	"serverlab/lab/seeds"
)

// SeedRun is one run of a seeds preset: a model, a generator, a ramp.
type SeedRun struct {
	Name, Model, Generator string
	SpawnRate              float64
	Row                    Row
	PeakActive             float64 // NaN: not known
	Server                 StepServer
	GeneratorBound         bool
}

// LoadSeeds finds the runs made at several spawn rates (the seeds
// preset) and what each paid over the whole run.
func (r *Report) LoadSeeds() error {
	for i, run := range r.Runs {
		mr, ok := r.modelRun(run)
		if !ok || mr.SpawnRate == 0 {
			continue
		}
		sr := SeedRun{Name: run.Name, Model: mr.Model, Generator: mr.Generator, SpawnRate: mr.SpawnRate,
			Row: r.Rows[i], PeakActive: math.NaN()}
		if sr.Generator == "" {
			sr.Generator = "go"
		}
		if v, ok := mr.Peaks["serverlab_connections_active"]; ok {
			sr.PeakActive = v
		}
		samples, err := locustcsv.ReadServer(run.Prefix + locustcsv.ServerSuffix)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if len(samples) > 1 {
			sr.Server = window(samples, samples[0].Time, samples[len(samples)-1].Time)
			gen := sr.Server.GeneratorCPU
			sr.GeneratorBound = generatorBound(gen, sr.Server.GeneratorWait, sr.Server.LoadBusy, sr.Server.CPU)
		} else {
			sr.Server = window(nil, 0, 0)
		}
		r.Seeds = append(r.Seeds, sr)
	}
	return nil
}

// seedsMarkdown sets the seeds runs beside the course's tables, one per
// course report, and says what each ordering measured.
func (r *Report) seedsMarkdown(w io.Writer) error {
	if len(r.Seeds) == 0 {
		return nil
	}
	course, err := seeds.Course()
	if err != nil {
		return err
	}
	io.WriteString(w, "\n## Beside the course's numbers\n\n"+
		"The course reports loaded Python servers with one Python Locust process (`HttpUser`), 1000 users ramped at 100 or at 1000 a second, and a person pressed Stop after about 10,000 requests (`lab/seeds/course.csv` holds their tables). Here the same users load serverlab's models for the same time each, by the Go worker and by Locust's own Python workers.\n")
	var reports []string
	byReport := map[string][]seeds.Row{}
	for _, c := range course {
		if byReport[c.Report] == nil {
			reports = append(reports, c.Report)
		}
		byReport[c.Report] = append(byReport[c.Report], c)
	}
	for _, rep := range reports {
		rows := byReport[rep]
		rate := rows[0].SpawnRate
		rateNote := fmt.Sprintf("%g users a second", rate)
		if rate == 0 {
			// Report C gave no ramp: set beside the slower one.
			rate, rateNote = 100, "ramp not reported; beside the runs at 100 a second"
		}
		fmt.Fprintf(w, "\n### Report %s (%s)\n\n", rep, rateNote)
		io.WriteString(w, "| model | course: requests | course: RPS | course: avg ms | Go: requests | Go: RPS | Go: avg ms | Go: failures | Go: conns held | Python: requests | Python: RPS | Python: avg ms | Python: failures | Python: generator-bound |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, c := range rows {
			g, p := r.seed(c.Model, "go", rate), r.seed(c.Model, "python", rate)
			courseReq := "-"
			if c.Requests > 0 {
				courseReq = strconv.Itoa(c.Requests)
			}
			courseRPS := strconv.FormatFloat(c.RPSLow, 'f', -1, 64)
			if c.RPSHigh != c.RPSLow {
				courseRPS += "-" + strconv.FormatFloat(c.RPSHigh, 'f', -1, 64)
			}
			fmt.Fprintf(w, "| %s (%s) | %s | %s | %s | %s | %s |\n", c.Model, c.CourseModel, courseReq, courseRPS,
				strconv.FormatFloat(c.AvgMs, 'f', -1, 64), seedCells(g, true), seedCells(p, false))
		}
		// The models the course never reached, beside them.
		inCourse := map[string]bool{}
		for _, c := range rows {
			inCourse[c.Model] = true
		}
		seen := map[string]bool{}
		for _, sr := range r.Seeds {
			if inCourse[sr.Model] || seen[sr.Model] || sr.SpawnRate != rate {
				continue
			}
			seen[sr.Model] = true
			fmt.Fprintf(w, "| %s (not in the course) | - | - | - | %s | %s |\n", sr.Model,
				seedCells(r.seed(sr.Model, "go", rate), true), seedCells(r.seed(sr.Model, "python", rate), false))
		}
		fmt.Fprintf(w, "\n%s\n", r.orderings(rows, rate))
	}
	return nil
}

func (r *Report) seed(model, gen string, rate float64) *SeedRun {
	for i := range r.Seeds {
		s := &r.Seeds[i]
		if s.Model == model && s.Generator == gen && s.SpawnRate == rate {
			return s
		}
	}
	return nil
}

func seedCells(s *SeedRun, conns bool) string {
	n := 5
	if s == nil {
		return strings.TrimSuffix(strings.Repeat("- | ", n), " | ")
	}
	cells := []string{strconv.Itoa(s.Row.Requests), cell(s.Row.RPS, 1), ms(s.Row.Avg), strconv.Itoa(s.Row.Failures)}
	if conns {
		cells = append(cells, cell(s.PeakActive, 0))
	} else if s.GeneratorBound {
		cells = append(cells, fmt.Sprintf("**yes** (CPU %s %%, server %s %%)", cell(s.Server.GeneratorCPU, 0), cell(s.Server.CPU, 0)))
	} else {
		cells = append(cells, "no")
	}
	return strings.Join(cells, " | ")
}

// orderings says, for one course report, how the course ranked the
// models by RPS, how each of serverlab's generators did, and why.
func (r *Report) orderings(rows []seeds.Row, rate float64) string {
	type ranked struct {
		model string
		rps   float64
	}
	order := func(get func(seeds.Row) (float64, bool)) []ranked {
		var out []ranked
		for _, c := range rows {
			if v, ok := get(c); ok {
				out = append(out, ranked{c.Model, v})
			}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].rps > out[j].rps })
		return out
	}
	names := func(rs []ranked) string {
		var s []string
		for _, x := range rs {
			s = append(s, fmt.Sprintf("%s %.0f", x.model, x.rps))
		}
		return strings.Join(s, " > ")
	}
	var b strings.Builder
	courseOrder := order(func(c seeds.Row) (float64, bool) { return (c.RPSLow + c.RPSHigh) / 2, true })
	fmt.Fprintf(&b, "- The course ranked them by RPS: %s.\n", names(courseOrder))
	for _, gen := range []string{"go", "python"} {
		ord := order(func(c seeds.Row) (float64, bool) {
			if s := r.seed(c.Model, gen, rate); s != nil {
				return s.Row.RPS, true
			}
			return 0, false
		})
		if len(ord) == 0 {
			continue
		}
		label := map[string]string{"go": "the Go worker", "python": "Python workers"}[gen]
		fmt.Fprintf(&b, "- serverlab with %s: %s.", label, names(ord))
		// Who kept the users' pace, who left users waiting.
		best := ord[0].rps
		var kept, queued []string
		queuedFailed := false
		for _, x := range ord {
			s := r.seed(x.model, gen, rate)
			switch {
			case !math.IsNaN(s.PeakActive) && s.PeakActive < 0.9*float64(r.seedUsers()):
				q := fmt.Sprintf("%s held %.0f", x.model, s.PeakActive)
				if s.Row.FailPct > 0 {
					q += fmt.Sprintf(" (%.1f %% of its requests failed)", s.Row.FailPct)
					queuedFailed = queuedFailed || s.Row.FailPct >= 50
				}
				queued = append(queued, q)
			case x.rps >= 0.9*best:
				kept = append(kept, x.model)
			}
		}
		if len(kept) > 1 {
			fmt.Fprintf(&b, " %s held a connection per user and served within 10 %% of each other: they all kept the users' pace, so their order is noise, not the model.", strings.Join(kept, ", "))
		}
		if len(queued) > 0 {
			if queuedFailed {
				fmt.Fprintf(&b, " %s of the users' connections: the others waited in the kernel's backlog, where Locust records nothing until their response timeout, and then a failure: few requests, most of them failed.", strings.Join(queued, ", "))
			} else {
				fmt.Fprintf(&b, " %s of the users' connections: the others waited in the kernel's backlog, where Locust records nothing until they time out, so fewer requests, not failures, show it.", strings.Join(queued, ", "))
			}
		}
		var bound []string
		for _, x := range ord {
			if s := r.seed(x.model, gen, rate); s.GeneratorBound {
				bound = append(bound, x.model)
			}
		}
		if len(bound) > 0 {
			fmt.Fprintf(&b, " For %s the generator, not the server, was the limit (its CPU saturated while the server idled): those numbers measure Python Locust.", strings.Join(bound, ", "))
		}
		b.WriteString("\n")
	}
	b.WriteString("- Where the course's order differs, it measured what serverlab holds fixed: one Python generator process, the machine's open-file limits (report A's client ran out of descriptors, report B's machine did) and when Stop was pressed.")
	return b.String()
}

// seedUsers is the users of the seeds runs (the preset's 1000, or --users).
func (r *Report) seedUsers() int {
	for _, s := range r.Setups {
		if s.Users > 0 {
			return s.Users
		}
	}
	return 1000
}

// seedsHTML is seedsMarkdown's section on the page, converted from the
// few Markdown forms it uses: headings, tables, list items, paragraphs.
func (r *Report) seedsHTML(b *strings.Builder) error {
	var md strings.Builder
	if err := r.seedsMarkdown(&md); err != nil {
		return err
	}
	inTable, inList := false, false
	closeAll := func() {
		if inTable {
			b.WriteString("</table>\n")
		}
		if inList {
			b.WriteString("</ul>\n")
		}
		inTable, inList = false, false
	}
	inline := func(s string) string {
		s = html.EscapeString(s)
		for strings.Count(s, "**") >= 2 {
			s = strings.Replace(strings.Replace(s, "**", "<b>", 1), "**", "</b>", 1)
		}
		for strings.Count(s, "`") >= 2 {
			s = strings.Replace(strings.Replace(s, "`", "<code>", 1), "`", "</code>", 1)
		}
		return s
	}
	for _, line := range strings.Split(md.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "|---"):
		case strings.HasPrefix(line, "|"):
			if !inTable {
				closeAll()
				b.WriteString("<table>\n")
				inTable = true
			}
			b.WriteString("<tr>")
			for _, c := range strings.Split(strings.Trim(line, "|"), " | ") {
				fmt.Fprintf(b, "<td>%s</td>", inline(strings.TrimSpace(c)))
			}
			b.WriteString("</tr>\n")
		case strings.HasPrefix(line, "- "):
			if !inList {
				closeAll()
				b.WriteString("<ul>\n")
				inList = true
			}
			fmt.Fprintf(b, "<li>%s</li>\n", inline(line[2:]))
		case strings.HasPrefix(line, "### "):
			closeAll()
			fmt.Fprintf(b, "<h3>%s</h3>\n", inline(line[4:]))
		case strings.HasPrefix(line, "## "):
			closeAll()
			fmt.Fprintf(b, "<h2>%s</h2>\n", inline(line[3:]))
		case strings.TrimSpace(line) == "":
			closeAll()
		default:
			closeAll()
			fmt.Fprintf(b, "<p>%s</p>\n", inline(line))
		}
	}
	closeAll()
	return nil
}
