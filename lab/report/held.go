package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
)

// Held is what one sweep says about connections: the most the server
// held at once, what it paid for them, and where and how it stopped
// holding more.
type Held struct {
	Run   string
	Model string
	Most  float64 // the peak of connections held over the steps; NaN: unknown
	At    int     // the users of the step where it held the most
	// RSSMiB and CPU are the server's at that step (peak memory, mean CPU
	// % of a core).
	RSSMiB, CPU float64
	// PerConnKiB is the memory each held connection cost: the slope of
	// the server's peak memory against the connections it held, over the
	// steps (least squares); NaN with fewer than two steps to fit.
	PerConnKiB float64
	Stopped    string // where and how it stopped, or that it did not
}

// held works out each sweep's Held.
func (r *Report) held() []Held {
	var out []Held
	for _, s := range r.Sweeps {
		h := Held{Run: s.Name, Model: s.Model, Most: math.NaN(), RSSMiB: math.NaN(), CPU: math.NaN()}
		var xs, ys []float64
		stop := stopStep(&s)
		for i, st := range s.Steps {
			a := st.Server.Active
			if math.IsNaN(a) {
				continue
			}
			if math.IsNaN(h.Most) || a > h.Most {
				h.Most, h.At, h.RSSMiB, h.CPU = a, st.Users, st.Server.RSSMiB, st.Server.CPU
			}
			// Past its stop a server holds about as many connections at
			// every step, and the fit would read noise as a slope.
			if i < stop && a > 0 && !math.IsNaN(st.Server.RSSMiB) {
				xs, ys = append(xs, a), append(ys, st.Server.RSSMiB)
			}
		}
		h.PerConnKiB = slope(xs, ys) * 1024
		h.Stopped = stopped(&s)
		out = append(out, h)
	}
	return out
}

// slope is the least-squares slope of y against x; NaN when x does not
// vary.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if len(xs) < 2 {
		return math.NaN()
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d <= 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / d
}

// stopStep is the index of the first step at which the server held a
// connection for fewer than nine users in ten, or ran out of descriptors;
// len(s.Steps) when it never did.
func stopStep(s *SweepRun) int {
	for i, st := range s.Steps {
		sv := st.Server
		if (!math.IsNaN(sv.Active) && sv.Active < DefaultServiceLevel.ConnectedShare*float64(st.Users)) || sv.EMFILE > 0 {
			return i
		}
	}
	return len(s.Steps)
}

// selectLimit is FD_SETSIZE: select(2) watches descriptors 0 to 1023.
const selectLimit = 1024

// stopped says at which step a sweep's server stopped holding a
// connection for every user (nine in ten, as the knee counts them), and
// by what: its own figures first (the descriptors select can watch,
// EMFILE, a thread or process per connection), then what the step's
// verdict says. A step that held every user but was slow or failed
// requests is no stop: it is named after.
func stopped(s *SweepRun) string {
	if i := stopStep(s); i < len(s.Steps) {
		st := s.Steps[i]
		sv := st.Server
		short := !math.IsNaN(sv.Active) && sv.Active < DefaultServiceLevel.ConnectedShare*float64(st.Users)
		held := "?"
		if !math.IsNaN(sv.Active) {
			held = count(sv.Active)
		}
		var why []string
		switch {
		case s.Model == "select" && st.Users > selectLimit && (math.IsNaN(sv.FDs) || sv.FDs <= selectLimit+16):
			why = append(why, "select's FD_SETSIZE: it cannot watch a descriptor past 1023, so the connections past it are closed")
		case sv.EMFILE > 0:
			why = append(why, fmt.Sprintf("out of descriptors (EMFILE, %s failed accepts)", count(sv.EMFILE)))
		}
		if !math.IsNaN(sv.Threads) && !math.IsNaN(sv.Active) && sv.Threads >= 0.5*sv.Active && sv.Active > 50 {
			why = append(why, fmt.Sprintf("a thread a connection: %s threads", count(sv.Threads)))
		}
		if !math.IsNaN(sv.Children) && !math.IsNaN(sv.Active) && sv.Children >= 0.5*sv.Active && sv.Active > 50 {
			why = append(why, fmt.Sprintf("a process a connection: %s processes", count(sv.Children)))
		}
		if short && len(why) == 0 {
			why = append(why, "the rest waited in the kernel's backlog")
		}
		if st.How != "" {
			why = append(why, st.How)
		}
		return fmt.Sprintf("at %d users, holding %s: %s", st.Users, held, strings.Join(why, "; "))
	}
	if len(s.Steps) == 0 {
		return "no step measured"
	}
	// A server too busy to answer its /metrics (a thousand processes
	// forking) leaves its last steps unmeasured: what it held there is
	// unknown, not "every user".
	last := -1
	for i, st := range s.Steps {
		if !math.IsNaN(st.Server.Active) {
			last = i
		}
	}
	var out string
	switch {
	case last < 0:
		out = "not measured: its /metrics did not answer"
	case last < len(s.Steps)-1:
		out = fmt.Sprintf("held every user up to %d; not measured from %d users: its /metrics did not answer", s.Steps[last].Users, s.Steps[last+1].Users)
	default:
		out = fmt.Sprintf("did not stop: held every user up to %d, the last step measured", s.Steps[last].Users)
	}
	if s.LostWorker != "" && last >= 0 {
		out = fmt.Sprintf("not seen: held every user up to %d, then the run ended early (%s)", s.Steps[last].Users, s.LostWorker)
	}
	for _, st := range s.Steps {
		if st.Broken {
			return out + fmt.Sprintf("; but from %d users it missed the service level: %s", st.Users, st.How)
		}
	}
	return out
}

const heldAbout = "Per model over the sweep's steps: the most connections the server held at once (its `/metrics`), its memory (peak RSS) and CPU there, what each held connection cost in memory (the slope of peak RSS against connections held, least squares over the steps), and the first step where it no longer held a connection per user, with why."

// heldMarkdown is the connections table.
func (r *Report) heldMarkdown(w io.Writer) {
	hs := r.held()
	if len(hs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## Connections held\n\n%s\n\n", heldAbout)
	io.WriteString(w, "| model | most held | at users | RSS there, MiB | memory per connection, KiB | CPU there, % | where and how it stopped |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, h := range sortHeld(hs) {
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s |\n", mdEscape(h.Run), cell(h.Most, 0), h.At,
			cell(h.RSSMiB, 1), cell(h.PerConnKiB, 1), cell(h.CPU, 1), mdEscape(h.Stopped))
	}
}

// heldHTML is heldMarkdown's page form.
func (r *Report) heldHTML(b *strings.Builder) {
	hs := r.held()
	if len(hs) == 0 {
		return
	}
	fmt.Fprintf(b, "<h2>Connections held</h2>\n<p>%s</p>\n<table>\n<tr><th>model</th><th>most held</th><th>at users</th><th>RSS there, MiB</th><th>memory per connection, KiB</th><th>CPU there, %%</th><th>where and how it stopped</th></tr>\n",
		html.EscapeString(strings.ReplaceAll(heldAbout, "`", "")))
	for _, h := range sortHeld(hs) {
		fmt.Fprintf(b, "<tr><td>%s</td><td>%s</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td style=\"text-align:left\">%s</td></tr>\n",
			html.EscapeString(h.Run), cell(h.Most, 0), h.At, cell(h.RSSMiB, 1), cell(h.PerConnKiB, 1), cell(h.CPU, 1), html.EscapeString(h.Stopped))
	}
	b.WriteString("</table>\n")
}

// sortHeld puts the models that held the most first.
func sortHeld(hs []Held) []Held {
	out := append([]Held(nil), hs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Most, out[j].Most
		if math.IsNaN(a) != math.IsNaN(b) {
			return !math.IsNaN(a)
		}
		return a > b
	})
	return out
}

// heldCharts: connections held against users, and memory and CPU against
// connections held, one line per model.
func (r *Report) heldCharts() []chart {
	var held, rss, cpu []series
	seen := false
	for _, s := range r.Sweeps {
		a, b, c := series{name: s.Name}, series{name: s.Name}, series{name: s.Name}
		type pt struct{ conns, rss, cpu float64 }
		var pts []pt
		for _, st := range s.Steps {
			a.x, a.y = append(a.x, float64(st.Users)), append(a.y, st.Server.Active)
			if !math.IsNaN(st.Server.Active) {
				seen = true
				pts = append(pts, pt{st.Server.Active, st.Server.RSSMiB, st.Server.CPU})
			}
		}
		sort.SliceStable(pts, func(i, j int) bool { return pts[i].conns < pts[j].conns })
		for _, p := range pts {
			b.x, b.y = append(b.x, p.conns), append(b.y, p.rss)
			c.x, c.y = append(c.x, p.conns), append(c.y, p.cpu)
		}
		held, rss, cpu = append(held, a), append(rss, b), append(cpu, c)
	}
	if !seen {
		return nil
	}
	const conns = "connections held"
	return []chart{
		{file: "held-connections.png", title: "Connections held against users", xTitle: "users", yTitle: conns, points: true, lines: held},
		{file: "held-rss.png", title: "Server memory against connections held", xTitle: conns, yTitle: "peak RSS, MiB", points: true, lines: rss},
		{file: "held-cpu.png", title: "Server CPU against connections held", xTitle: conns, yTitle: "CPU, % of a core", points: true, lines: cpu},
	}
}
