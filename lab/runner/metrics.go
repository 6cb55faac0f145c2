package runner

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"serverlab/lab/meta"
)

// Gauges whose highest value over a run says what a model cost.
var peakGauges = []string{
	"serverlab_connections_active",
	"serverlab_open_fds",
	"serverlab_os_threads",
	"serverlab_child_processes",
	"serverlab_resident_memory_bytes",
}

var metricsClient = &http.Client{Timeout: 2 * time.Second}

// scrape fetches a target's /metrics: the raw text and each sample by its
// full name with labels (`serverlab_responses_total{status="200"}`).
func scrape(adminAddr string) (string, map[string]float64, error) {
	resp, err := metricsClient.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", nil, err
	}
	return string(b), parseSamples(string(b)), nil
}

// parseSamples reads Prometheus text exposition lines; comments and lines
// it does not understand are skipped.
func parseSamples(text string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// The value follows the last space outside the label braces;
		// an optional timestamp follows it.
		name := line
		rest := ""
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			name, rest = line[:i+1], line[i+1:]
		} else if i := strings.IndexByte(line, ' '); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[dropModelLabel(name)] += v
	}
	return out
}

// dropModelLabel removes the model="..." label every series carries: one
// run is one model, and keys without it read the same for every model.
func dropModelLabel(name string) string {
	i := strings.IndexByte(name, '{')
	if i < 0 || !strings.HasSuffix(name, "}") {
		return name
	}
	var keep []string
	for _, l := range splitLabels(name[i+1 : len(name)-1]) {
		if !strings.HasPrefix(l, "model=") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return name[:i]
	}
	return name[:i] + "{" + strings.Join(keep, ",") + "}"
}

// splitLabels splits `a="x",b="y,z"` at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	quoted, esc, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case esc:
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// peaks keeps the highest value seen of each peak gauge.
func mergePeaks(peaks, samples map[string]float64) {
	for _, g := range peakGauges {
		if v, ok := samples[g]; ok && v > peaks[g] {
			peaks[g] = v
		}
	}
}

// sampler scrapes a target's /metrics during a run: the peaks of its
// gauges, and the last scrape whole.
type sampler struct {
	admin     string // "" when the target serves no metrics
	peaks     map[string]float64
	final     map[string]float64
	finalText string
}

func (s *sampler) sample() {
	if s == nil || s.admin == "" {
		return
	}
	if text, v, err := scrape(s.admin); err == nil {
		mergePeaks(s.peaks, v)
		s.final, s.finalText = v, text
	}
}

// record puts the peaks and the final counters into mr, and the last
// scrape into path.
func (s *sampler) record(mr *meta.ModelRun, path string) {
	if s == nil {
		return
	}
	if s.finalText != "" {
		os.WriteFile(path, []byte(s.finalText), 0o644)
	}
	if len(s.peaks) > 0 {
		mr.Peaks = s.peaks
	}
	if s.final != nil {
		mr.Final = map[string]float64{}
		for k, v := range s.final {
			if strings.HasSuffix(strings.SplitN(k, "{", 2)[0], "_total") {
				mr.Final[k] = v
			}
		}
	}
}
