package boomer

import (
	"fmt"
	"slices"
	"strings"
)

// Column widths of Locust's console tables (stats.py on a wide terminal).
const (
	typeWidth = 8
	nameWidth = 80
)

var (
	reportPercentiles = []float64{0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0}
	percentileLabels  = []string{"50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"}
)

// summary renders t as Locust prints its final statistics (request table,
// response time percentiles, error report), then user exceptions if any.
func summary(t *table, excs map[string]int) string {
	var b strings.Builder
	keys := sortedStatsKeys(t.entries)
	total := t.total()

	nameCol := nameWidth - typeWidth + 4
	fmt.Fprintf(&b, "%-*s %-*s %7s %12s |%7s %7s %7s%7s | %7s %11s\n", typeWidth, "Type", nameCol, "Name",
		"# reqs", "# fails", "Avg", "Min", "Max", "Med", "req/s", "failures/s")
	sep := strings.Join([]string{dashes(typeWidth), dashes(nameCol), dashes(7), dashes(13), dashes(7),
		dashes(7), dashes(7), dashes(7), dashes(8), dashes(11)}, "|")
	b.WriteString(sep + "\n")
	for _, k := range keys {
		b.WriteString(statsRow(t.entries[k], nameCol) + "\n")
	}
	b.WriteString(sep + "\n")
	b.WriteString(statsRow(total, nameCol) + "\n\n")

	b.WriteString("Response time percentiles (approximated)\n")
	head := append(slices.Clone(percentileLabels), "# reqs")
	fmt.Fprintf(&b, "%-*s %-*s %8s", typeWidth, "Type", nameWidth, "Name", head[0])
	for _, h := range head[1:] {
		fmt.Fprintf(&b, " %6s", h)
	}
	b.WriteString("\n")
	psep := dashes(typeWidth) + "|" + dashes(nameWidth) + "|" + dashes(8) + "|" +
		strings.TrimSuffix(strings.Repeat(dashes(6)+"|", len(reportPercentiles)), "|")
	b.WriteString(psep + "\n")
	for _, k := range keys {
		if e := t.entries[k]; len(e.responseTimes) > 0 {
			b.WriteString(percentileRow(e) + "\n")
		}
	}
	b.WriteString(psep + "\n")
	if len(total.responseTimes) > 0 {
		b.WriteString(percentileRow(total) + "\n")
	}
	b.WriteString("\n")

	if len(t.errors) > 0 {
		b.WriteString("Error report\n")
		fmt.Fprintf(&b, "%-18s %-100s\n", "# occurrences", "Error")
		esep := dashes(18) + "|" + dashes(80+nameWidth-19)
		b.WriteString(esep + "\n")
		errKeys := make([]errKey, 0, len(t.errors))
		for k := range t.errors {
			errKeys = append(errKeys, k)
		}
		slices.SortFunc(errKeys, func(a, b errKey) int {
			return int(t.errors[b].occurrences - t.errors[a].occurrences)
		})
		for _, k := range errKeys {
			msg := k.err
			if inner, ok := strings.CutPrefix(msg, "CatchResponseError("); ok {
				msg = strings.TrimSuffix(inner, ")")
			}
			fmt.Fprintf(&b, "%-18d %-100s\n", t.errors[k].occurrences, fmt.Sprintf("%s %s: %s", k.method, k.name, msg))
		}
		b.WriteString(esep + "\n\n")
	}

	if len(excs) > 0 {
		b.WriteString("Exceptions\n")
		fmt.Fprintf(&b, "%-18s %-100s\n", "# occurrences", "Exception")
		esep := dashes(18) + "|" + dashes(80+nameWidth-19)
		b.WriteString(esep + "\n")
		msgs := make([]string, 0, len(excs))
		for m := range excs {
			msgs = append(msgs, m)
		}
		slices.Sort(msgs)
		for _, m := range msgs {
			fmt.Fprintf(&b, "%-18d %-100s\n", excs[m], m)
		}
		b.WriteString(esep + "\n")
	}
	return b.String()
}

func dashes(n int) string { return strings.Repeat("-", n) }

// statsRow is StatsEntry.to_string(current=False): whole-run rates.
func statsRow(e *entry, nameCol int) string {
	method := ""
	if e.method != "" {
		method = e.method + " "
	}
	var avg, rps, fps, failRatio float64
	if e.numRequests > 0 {
		avg = e.totalResponseTime / float64(e.numRequests)
		failRatio = float64(e.numFailures) / float64(e.numRequests)
	} else if e.numFailures > 0 {
		failRatio = 1
	}
	if span := e.lastRequest - e.startTime; e.lastRequest != 0 && e.startTime != 0 && span > 0 {
		rps = float64(e.numRequests) / span
		fps = float64(e.numFailures) / span
	}
	return fmt.Sprintf("%-*s %-*s %7d %12s |%7d %7d %7d%7d | %7.2f %11.2f",
		typeWidth, method, nameCol, e.name, e.numRequests,
		fmt.Sprintf("%d(%.2f%%)", e.numFailures, failRatio*100),
		int64(avg), int64(e.minResponseTime), int64(e.maxResponseTime), e.median(), rps, fps)
}

// median is StatsEntry.median_response_time: the bucketed median, kept
// within the exact min and max.
func (e *entry) median() int64 {
	if len(e.responseTimes) == 0 {
		return 0
	}
	m := e.percentile(0.5)
	if float64(m) > e.maxResponseTime {
		m = int64(e.maxResponseTime)
	} else if e.numRequests > 0 && float64(m) < e.minResponseTime {
		m = int64(e.minResponseTime)
	}
	return m
}

func percentileRow(e *entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s %-*s %8d", typeWidth, e.method, nameWidth, e.name, e.percentile(reportPercentiles[0]))
	for _, p := range reportPercentiles[1:] {
		fmt.Fprintf(&b, " %6d", e.percentile(p))
	}
	fmt.Fprintf(&b, " %6d", e.numRequests)
	return b.String()
}
