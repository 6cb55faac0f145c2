package boomer

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// statsKey identifies one row of Locust's statistics table.
type statsKey struct {
	name, method string
}

// entry mirrors Locust's StatsEntry. Response times are float milliseconds,
// as Python workers measure them, so sub-millisecond averages survive.
type entry struct {
	name, method       string
	numRequests        int64
	numFailures        int64
	totalResponseTime  float64
	minResponseTime    float64 // valid when numRequests > 0
	maxResponseTime    float64
	totalContentLength int64
	responseTimes      map[int64]int64 // bucketed ms -> count
	reqsPerSec         map[int64]int64 // epoch second -> count
	failPerSec         map[int64]int64
	startTime          float64 // epoch seconds
	lastRequest        float64 // epoch seconds; 0: none yet
}

func newEntry(name, method string, start float64) *entry {
	return &entry{
		name: name, method: method, startTime: start,
		responseTimes: map[int64]int64{},
		reqsPerSec:    map[int64]int64{},
		failPerSec:    map[int64]int64{},
	}
}

// log counts one request (Locust counts failed requests as requests too).
func (e *entry) log(now time.Time, ms float64, contentLength int64) {
	ts := epochSeconds(now)
	if e.numRequests == 0 || ms < e.minResponseTime {
		e.minResponseTime = ms
	}
	if ms > e.maxResponseTime {
		e.maxResponseTime = ms
	}
	e.numRequests++
	e.totalResponseTime += ms
	e.totalContentLength += contentLength
	e.responseTimes[bucketResponseTime(ms)]++
	e.reqsPerSec[now.Unix()]++
	e.lastRequest = ts
}

func (e *entry) logFailure(now time.Time) {
	e.numFailures++
	e.failPerSec[now.Unix()]++
}

// extend adds o into e the way the master's StatsEntry.extend does.
func (e *entry) extend(o *entry) {
	if o.lastRequest > e.lastRequest {
		e.lastRequest = o.lastRequest
	}
	if o.startTime != 0 && (e.startTime == 0 || o.startTime < e.startTime) {
		e.startTime = o.startTime
	}
	if o.numRequests > 0 {
		if e.numRequests == 0 || o.minResponseTime < e.minResponseTime {
			e.minResponseTime = o.minResponseTime
		}
		if o.maxResponseTime > e.maxResponseTime {
			e.maxResponseTime = o.maxResponseTime
		}
	}
	e.numRequests += o.numRequests
	e.numFailures += o.numFailures
	e.totalResponseTime += o.totalResponseTime
	e.totalContentLength += o.totalContentLength
	for k, v := range o.responseTimes {
		e.responseTimes[k] += v
	}
	for k, v := range o.reqsPerSec {
		e.reqsPerSec[k] += v
	}
	for k, v := range o.failPerSec {
		e.failPerSec[k] += v
	}
}

// serialize returns the StatsEntryDict the master unserializes.
func (e *entry) serialize() map[string]any {
	var minRT, last any
	if e.numRequests > 0 {
		minRT = e.minResponseTime
	}
	if e.lastRequest != 0 {
		last = e.lastRequest
	}
	return map[string]any{
		"name":                   validUTF8(e.name),
		"method":                 validUTF8(e.method),
		"last_request_timestamp": last,
		"start_time":             e.startTime,
		"num_requests":           e.numRequests,
		"num_none_requests":      int64(0),
		"num_failures":           e.numFailures,
		"total_response_time":    e.totalResponseTime,
		"max_response_time":      e.maxResponseTime,
		"min_response_time":      minRT,
		"total_content_length":   e.totalContentLength,
		"response_times":         e.responseTimes,
		"num_reqs_per_sec":       e.reqsPerSec,
		"num_fail_per_sec":       e.failPerSec,
	}
}

// percentile is Locust's calculate_response_time_percentile.
func (e *entry) percentile(p float64) int64 {
	keys := sortedKeys(e.responseTimes)
	want := int64(float64(e.numRequests) * p)
	var seen int64
	for i := len(keys) - 1; i >= 0; i-- {
		seen += e.responseTimes[keys[i]]
		if e.numRequests-seen <= want {
			return keys[i]
		}
	}
	return 0
}

// errKey groups failures before the Locust key (a sha256) is computed, so the
// hash is paid once per distinct error per report, not per failure.
type errKey struct {
	method, name, err string
}

type errEntry struct {
	occurrences         int64
	firstSeen, lastSeen float64
}

func (e *errEntry) add(o *errEntry) {
	if e.occurrences == 0 || o.firstSeen < e.firstSeen {
		e.firstSeen = o.firstSeen
	}
	if o.lastSeen > e.lastSeen {
		e.lastSeen = o.lastSeen
	}
	e.occurrences += o.occurrences
}

// table is one set of statistics: a shard's, a report's or a whole run's.
type table struct {
	start   float64
	entries map[statsKey]*entry
	errors  map[errKey]*errEntry
}

func newTable(start float64) *table {
	return &table{start: start, entries: map[statsKey]*entry{}, errors: map[errKey]*errEntry{}}
}

func (t *table) empty() bool { return len(t.entries) == 0 && len(t.errors) == 0 }

func (t *table) get(name, method string) *entry {
	k := statsKey{name, method}
	e := t.entries[k]
	if e == nil {
		e = newEntry(name, method, t.start)
		t.entries[k] = e
	}
	return e
}

func (t *table) success(now time.Time, method, name string, ms float64, contentLength int64) {
	t.get(name, method).log(now, ms, contentLength)
}

func (t *table) failure(now time.Time, method, name string, ms float64, err string) {
	e := t.get(name, method)
	e.log(now, ms, 0)
	e.logFailure(now)
	k := errKey{method, name, err}
	ee := t.errors[k]
	if ee == nil {
		ee = &errEntry{}
		t.errors[k] = ee
	}
	ts := epochSeconds(now)
	if ee.occurrences == 0 {
		ee.firstSeen = ts
	}
	ee.lastSeen = ts
	ee.occurrences++
}

// merge adds o into t.
func (t *table) merge(o *table) {
	if o.start != 0 && (t.start == 0 || o.start < t.start) {
		t.start = o.start
	}
	for k, oe := range o.entries {
		e := t.entries[k]
		if e == nil {
			e = newEntry(k.name, k.method, oe.startTime)
			t.entries[k] = e
		}
		e.extend(oe)
	}
	for k, oe := range o.errors {
		e := t.errors[k]
		if e == nil {
			e = &errEntry{}
			t.errors[k] = e
		}
		e.add(oe)
	}
}

// total is Locust's "Aggregated" row.
func (t *table) total() *entry {
	tot := newEntry("Aggregated", "", t.start)
	for _, e := range t.entries {
		tot.extend(e)
	}
	tot.startTime = t.start
	return tot
}

// serialize returns the stats, stats_total and errors of a worker report.
func (t *table) serialize() (stats []map[string]any, total map[string]any, errors map[string]any) {
	stats = make([]map[string]any, 0, len(t.entries))
	for _, k := range sortedStatsKeys(t.entries) {
		e := t.entries[k]
		if e.numRequests == 0 && e.numFailures == 0 {
			continue
		}
		stats = append(stats, e.serialize())
	}
	// Strings that are not UTF-8 would make the master's msgpack decoding
	// fail, so they are repaired; two errors repaired alike then add up.
	merged := map[string]*errEntry{}
	keys := map[string]errKey{}
	for k, e := range t.errors {
		k = errKey{validUTF8(k.method), validUTF8(k.name), validUTF8(parseError(k.err))}
		key := errorKey(k.method, k.name, k.err)
		m := merged[key]
		if m == nil {
			m = &errEntry{}
			merged[key] = m
			keys[key] = k
		}
		m.add(e)
	}
	errors = make(map[string]any, len(merged))
	for key, e := range merged {
		k := keys[key]
		errors[key] = map[string]any{
			"name":        k.name,
			"method":      k.method,
			"error":       k.err,
			"occurrences": e.occurrences,
			"first_seen":  e.firstSeen,
			"last_seen":   e.lastSeen,
		}
	}
	return stats, t.total().serialize(), errors
}

// shard is one part of the statistics: users record into the shard they
// were given, callers without a user into any free one. Users share the
// shards (a few dozen users each at ten thousand), so a waiting user holds
// no table of its own, and recording rarely contends.
type shard struct {
	mu  sync.Mutex
	tab *table
	hub *statsHub
}

func (s *shard) success(method, name string, elapsed time.Duration, n int64) {
	s.record(method, name, durationMS(elapsed), n, "", false)
}

func (s *shard) failure(method, name string, elapsed time.Duration, err string) {
	s.record(method, name, durationMS(elapsed), 0, err, true)
}

func (s *shard) record(method, name string, ms float64, n int64, err string, failed bool) {
	if s == nil {
		if h := currentHub(); h != nil {
			h.record(method, name, ms, n, err, failed)
		}
		return
	}
	now := time.Now()
	s.mu.Lock()
	// Checked under the shard's lock, which the sealing collect takes
	// after sealing: a record lands in the final report or nowhere.
	if !s.hub.sealed.Load() {
		if failed {
			s.tab.failure(now, method, name, ms, err)
		} else {
			s.tab.success(now, method, name, ms, n)
		}
	}
	s.mu.Unlock()
}

// drain hands the shard's table to the caller and starts a new one.
func (s *shard) drain(start float64) *table {
	s.mu.Lock()
	t := s.tab
	if t.empty() {
		t.start = start
		s.mu.Unlock()
		return nil
	}
	s.tab = newTable(start)
	s.mu.Unlock()
	return t
}

// shards is how many shards a hub has: enough that users on a few cores
// seldom wait for one another's lock.
const shards = 128

// statsHub owns every shard of a Boomer and builds reports from them.
type statsHub struct {
	mu       sync.Mutex
	shards   [shards]shard
	next     atomic.Uint32 // the shard the next user gets
	winStart float64
	run      *table      // everything since the last reset, for Summary
	unsent   *table      // a report the master did not take, for the next one
	sealed   atomic.Bool // the test is over: records are dropped
}

func newStatsHub() *statsHub {
	now := epochSeconds(time.Now())
	h := &statsHub{winStart: now, run: newTable(now)}
	for i := range h.shards {
		h.shards[i].tab = newTable(now)
		h.shards[i].hub = h
	}
	return h
}

// newShard gives a user its shard, in turn.
func (h *statsHub) newShard() *shard {
	return &h.shards[h.next.Add(1)%shards]
}

// retire is called when a user stops. Its records stay in its shard,
// which every collect drains, so nothing is left to do.
func (h *statsHub) retire(*shard) {}

// record serves the package-level functions: it picks a free shard whose
// lock is not held, so concurrent callers spread over the shards.
func (h *statsHub) record(method, name string, ms float64, n int64, err string, failed bool) {
	i := fastIndex()
	for tries := 0; ; tries++ {
		s := &h.shards[(i+uint32(tries))%shards]
		if tries < shards && !s.mu.TryLock() {
			continue
		}
		if tries >= shards {
			s.mu.Lock()
		}
		now := time.Now()
		if !h.sealed.Load() {
			if failed {
				s.tab.failure(now, method, name, ms, err)
			} else {
				s.tab.success(now, method, name, ms, n)
			}
		}
		s.mu.Unlock()
		return
	}
}

// seal makes the next collect the test's last: what is recorded after it
// is dropped, as a Python worker drops the requests its killed users had
// in flight. The master gives a worker half a second after quit for its
// final report, which then cannot depend on how fast users end.
func (h *statsHub) seal() { h.sealed.Store(true) }

// collect drains every shard into one report table (the deltas since the
// last collect) and adds it to the run's totals.
func (h *statsHub) collect() *table {
	now := epochSeconds(time.Now())
	h.mu.Lock()
	rep := newTable(h.winStart)
	h.winStart = now
	add := func(s *shard) {
		if t := s.drain(now); t != nil {
			rep.merge(t)
		}
	}
	for i := range h.shards {
		add(&h.shards[i])
	}
	h.run.merge(rep)
	if h.unsent != nil {
		// Already in run: it was counted when first collected.
		rep.merge(h.unsent)
		h.unsent = nil
	}
	h.mu.Unlock()
	return rep
}

// keep takes back a collected report that could not be sent: the next
// collect returns it again, with whatever was recorded since.
func (h *statsHub) keep(rep *table) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.unsent == nil {
		h.unsent = rep
		return
	}
	h.unsent.merge(rep)
}

// reset forgets everything recorded so far (Locust's stats.clear_all when a
// new test starts).
func (h *statsHub) reset() {
	h.collect()
	h.mu.Lock()
	h.run = newTable(h.winStart)
	h.mu.Unlock()
	h.sealed.Store(false)
}

// runTable returns the run's totals plus what is recorded but not yet
// reported, without draining anything: the next report still gets it.
func (h *statsHub) runTable() *table {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := newTable(h.run.start)
	t.merge(h.run)
	snap := func(s *shard) {
		s.mu.Lock()
		t.merge(s.tab)
		s.mu.Unlock()
	}
	for i := range h.shards {
		snap(&h.shards[i])
	}
	return t
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

func durationMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func epochSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// bucketResponseTime is Locust's bucket_response_time: about two significant
// digits, with Python's round() (exact value, ties to even).
func bucketResponseTime(ms float64) int64 {
	switch {
	case ms < 100:
		return int64(math.RoundToEven(ms))
	case ms < 1000:
		return roundToPow10(ms, 1)
	case ms < 10000:
		return roundToPow10(ms, 2)
	default:
		return roundToPow10(ms, 3)
	}
}

var pow10 = [...]float64{1, 10, 100, 1000}

// roundToPow10 is Python's int(round(x, -k)). Dividing in float64 may turn a
// value just off a tie into an exact tie (or the reverse), so values close
// to a tie are decided with exact rational arithmetic.
func roundToPow10(x float64, k int) int64 {
	p := pow10[k]
	q := x / p
	fl := math.Floor(q)
	if frac := q - fl; math.Abs(frac-0.5) > 1e-6 {
		return int64(math.RoundToEven(q)) * int64(p)
	}
	exact := new(big.Rat).SetFloat64(x)
	exact.Quo(exact, new(big.Rat).SetInt64(int64(p)))
	half := new(big.Rat).SetFrac64(2*int64(fl)+1, 2)
	r := int64(fl)
	switch c := exact.Cmp(half); {
	case c > 0:
		r++
	case c == 0 && int64(fl)%2 != 0:
		r++
	}
	return r * int64(p)
}

// errorKey is Locust's StatsError.create_key for a string error:
// sha256 of f"{method}.{name}.{error!r}".
func errorKey(method, name, err string) string {
	sum := sha256.Sum256([]byte(method + "." + name + "." + pyRepr(err)))
	return hex.EncodeToString(sum[:])
}

// parseError is Locust's StatsError.parse_error for strings: the address in
// "<... object at 0x7f...>" becomes 0x.... so equal errors group together.
func parseError(s string) string {
	const target = "object at 0x"
	i := strings.Index(s, target)
	if i < 0 {
		return s
	}
	start := i + len(target) - 2
	end := strings.Index(s[start:], ">")
	if end < 0 {
		return s
	}
	return strings.ReplaceAll(s, s[start:start+end], "0x....")
}
