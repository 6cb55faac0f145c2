package report

import (
	"math"
)

// charts are the report's figures: RPS and p95 over time, RPS and latency
// percentiles per model, the servers' CPU when known, and for sweeps the
// knee curves and what each request cost the server.
func (r *Report) charts() []chart {
	var rps, p95 []series
	var models []string
	var rpsBars, med, p95s, p99s []float64
	for i, run := range r.Runs {
		rs := series{name: run.Name}
		ps := series{name: run.Name}
		// A lone row is Locust's all-zero start (all Debian's 2.12.1
		// writes headless): nothing to draw.
		hist := run.History
		if len(hist) < 2 {
			hist = nil
		}
		for _, p := range hist {
			t := float64(p.Time - hist[0].Time)
			rs.x, rs.y = append(rs.x, t), append(rs.y, p.RPS)
			ps.x, ps.y = append(ps.x, t), append(ps.y, p.P95)
		}
		rps, p95 = append(rps, rs), append(p95, ps)
		models = append(models, run.Name)
		row := r.Rows[i]
		rpsBars = append(rpsBars, row.RPS)
		med, p95s, p99s = append(med, row.Median), append(p95s, row.P95), append(p99s, row.P99)
	}
	const noHistory = "no history rows to draw"
	charts := []chart{
		{file: "rps-over-time.png", title: "Requests per second over time", xTitle: "seconds since start", yTitle: "req/s", lines: rps, empty: noHistory},
		{file: "p95-over-time.png", title: "p95 response time over time", xTitle: "seconds since start", yTitle: "ms", lines: p95, empty: noHistory},
		{file: "rps.png", title: "Requests per second", yTitle: "req/s", cats: models, bars: []barSet{{"RPS", rpsBars}}},
		{file: "latency.png", title: "Response time percentiles", yTitle: "ms", logY: true, cats: models,
			bars: []barSet{{"median", med}, {"p95", p95s}, {"p99", p99s}}},
	}
	// What the servers paid, when the runs carry it (a lab run folder).
	if len(r.Servers) > 0 {
		var cpu []float64
		for _, row := range r.Rows {
			if s, ok := r.Servers[row.Model]; ok && s.CPUPercent != nil {
				cpu = append(cpu, *s.CPUPercent)
			} else {
				cpu = append(cpu, 0)
			}
		}
		charts = append(charts, chart{file: "cpu.png", title: "Server CPU, % of one core", yTitle: "%", cats: models, bars: []barSet{{"CPU", cpu}}})
	}
	charts = append(charts, r.sweepCharts()...)
	return append(charts, r.heldCharts()...)
}

// sweepCharts are the knee curves, RPS and p95 against users, and what a
// request cost the server in CPU and a user in memory, against users.
// Memory is held per connection, not per request, so it is per user.
func (r *Report) sweepCharts() []chart {
	if len(r.Sweeps) == 0 {
		return nil
	}
	var rps, p95, cpu, mem []series
	rate := r.rateAxis()
	for _, s := range r.Sweeps {
		a, b, c, d := series{name: s.Name}, series{name: s.Name}, series{name: s.Name}, series{name: s.Name}
		for _, st := range s.Steps {
			u := float64(st.Users)
			x := u
			if rate {
				x = st.TargetRate
			}
			a.x, a.y = append(a.x, x), append(a.y, st.RPS)
			b.x, b.y = append(b.x, x), append(b.y, st.P95)
			perReq := math.NaN()
			if st.RPS > 0 && !math.IsNaN(st.Server.CPU) {
				// % of a core is centiseconds a second: per request, in ms.
				perReq = st.Server.CPU * 10 / st.RPS
			}
			c.x, c.y = append(c.x, x), append(c.y, perReq)
			perUser := math.NaN()
			if st.Users > 0 && !math.IsNaN(st.Server.RSSMiB) && !math.IsNaN(s.IdleRSSMiB) {
				perUser = math.Max(0, st.Server.RSSMiB-s.IdleRSSMiB) * 1024 / u
			}
			d.x, d.y = append(d.x, x), append(d.y, perUser)
		}
		rps, p95, cpu, mem = append(rps, a), append(p95, b), append(cpu, c), append(mem, d)
	}
	if rate {
		const due = "requests due a second"
		return []chart{
			{file: "knee-rps.png", title: "Requests per second answered against the arrival rate (each step's window)", xTitle: due, yTitle: "req/s", logX: true, points: true, lines: rps},
			{file: "knee-p95.png", title: "p95 response time from when each request was due, against the arrival rate", xTitle: due, yTitle: "ms", logX: true, logY: true, points: true, lines: p95},
			{file: "cost-cpu.png", title: "Server CPU per request against the arrival rate", xTitle: due, yTitle: "CPU ms per request", logX: true, logY: true, points: true, lines: cpu},
		}
	}
	const users = "users"
	return []chart{
		{file: "knee-rps.png", title: "Requests per second against users (each step's window)", xTitle: users, yTitle: "req/s", logX: true, points: true, lines: rps},
		{file: "knee-p95.png", title: "p95 response time against users", xTitle: users, yTitle: "ms", logX: true, logY: true, points: true, lines: p95},
		{file: "cost-cpu.png", title: "Server CPU per request against users", xTitle: users, yTitle: "CPU ms per request", logX: true, logY: true, points: true, lines: cpu},
		{file: "cost-memory.png", title: "Server memory per user against users (above its memory before the load)", xTitle: users, yTitle: "RSS KiB per user", logX: true, points: true, lines: mem},
	}
}
