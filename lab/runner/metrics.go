package runner

import (
	"bufio"
	"encoding/csv"
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
// gauges, and the last scrape whole. With a series file it also writes
// each sample there, with the target's process-tree CPU time, so that a
// sweep's steps each get what the server paid during their own window.
type sampler struct {
	admin     string // "" when the target serves no metrics
	peaks     map[string]float64
	final     map[string]float64
	finalText string
	pid       int
	workers   []int // the load generators' pids, once started
	master    int
	loadCPUs  []int // the load generators' CPUs; none: every CPU
	series    *os.File
	w         *csv.Writer
}

// ServerSeriesSuffix names the file of a run's server samples: one row
// per sample, Unix time, CPU seconds of the target's process tree, and
// its gauges and counters (empty when not given).
const ServerSeriesSuffix = "_server.csv"

var seriesColumns = []struct{ head, metric string }{
	{"Active Connections", "serverlab_connections_active"},
	{"Open FDs", "serverlab_open_fds"},
	{"Threads", "serverlab_os_threads"},
	{"Child Processes", "serverlab_child_processes"},
	{"RSS Bytes", "serverlab_resident_memory_bytes"},
	{"EMFILE", `serverlab_accept_errors_total{errno="EMFILE"}`},
	{"Connections Shed", "serverlab_connections_shed_total"},
}

// openSeries starts the series file at path.
func (s *sampler) openSeries(path string, pid int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	s.series, s.w, s.pid = f, csv.NewWriter(f), pid
	head := []string{"Timestamp", "CPU Seconds"}
	for _, c := range seriesColumns {
		head = append(head, c.head)
	}
	head = append(head, "Busiest Worker CPU Seconds", "Master CPU Seconds", "Load CPUs Busy Seconds", "Load CPUs Seconds",
		"Busiest Worker Wait Seconds")
	s.w.Write(head)
	s.w.Flush()
	return s.w.Error()
}

func (s *sampler) closeSeries() {
	if s != nil && s.series != nil {
		s.w.Flush()
		s.series.Close()
		s.series = nil
	}
}

func (s *sampler) sample() {
	if s == nil {
		return
	}
	now := time.Now()
	var v map[string]float64
	if s.admin != "" {
		if text, got, err := scrape(s.admin); err == nil {
			mergePeaks(s.peaks, got)
			s.final, s.finalText, v = got, text, got
		}
	}
	if s.series == nil {
		return
	}
	row := []string{strconv.FormatFloat(float64(now.UnixMilli())/1000, 'f', 3, 64), ""}
	if cpu, err := treeCPU(s.pid); err == nil {
		row[1] = strconv.FormatFloat(cpu, 'f', 2, 64)
	}
	for _, c := range seriesColumns {
		cell := ""
		if x, ok := v[c.metric]; ok {
			cell = strconv.FormatFloat(x, 'f', -1, 64)
		}
		row = append(row, cell)
	}
	// The busiest worker so far: workers share the load evenly, so the
	// one with the most CPU time is the one nearest its core's limit.
	busiest, master, busiestPid := "", "", 0
	for _, pid := range s.workers {
		if v, err := treeCPU(pid); err == nil {
			if b, _ := strconv.ParseFloat(busiest, 64); busiest == "" || v > b {
				busiest, busiestPid = strconv.FormatFloat(v, 'f', 2, 64), pid
			}
		}
	}
	if s.master > 0 {
		if v, err := treeCPU(s.master); err == nil {
			master = strconv.FormatFloat(v, 'f', 2, 64)
		}
	}
	row = append(row, busiest, master)
	// How busy the load generators' CPUs were, whoever kept them busy: a
	// generator starved of CPU limits the load as surely as a slow one.
	if busy, total, err := cpuBusy(s.loadCPUs); err == nil {
		row = append(row, strconv.FormatFloat(busy, 'f', 2, 64), strconv.FormatFloat(total, 'f', 2, 64))
	} else {
		row = append(row, "", "")
	}
	// How long that worker waited for a CPU: starved, it used little CPU
	// as an idle one does, but wanted more.
	wait := ""
	if busiestPid > 0 {
		if v, err := runQueueWait(busiestPid); err == nil {
			wait = strconv.FormatFloat(v, 'f', 3, 64)
		}
	}
	row = append(row, wait)
	s.w.Write(row)
	s.w.Flush()
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

// cpuBusy sums, over cpus (every CPU when empty), the seconds /proc/stat
// counts as busy (all but idle and iowait) and in total.
func cpuBusy(cpus []int) (busy, total float64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	want := map[string]bool{}
	for _, c := range cpus {
		want["cpu"+strconv.Itoa(c)] = true
	}
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if (len(cpus) == 0 && f[0] != "cpu") || (len(cpus) > 0 && !want[f[0]]) {
			continue
		}
		found = true
		for i, v := range f[1:] {
			if i >= 8 { // guest time is counted in user time already
				break
			}
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/stat: %q", line)
			}
			total += n / userHZ
			if i != 3 && i != 4 { // idle, iowait
				busy += n / userHZ
			}
		}
	}
	if !found {
		return 0, 0, fmt.Errorf("/proc/stat: none of CPUs %v", cpus)
	}
	return busy, total, nil
}
