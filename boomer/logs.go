package boomer

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// maxLogLines is how many of its newest log lines a worker keeps for the
// master's Logs tab, as Locust's workers keep 500.
const maxLogLines = 500

// logInterval is how often new log lines go to the master (Locust's
// WORKER_LOG_REPORT_INTERVAL).
const logInterval = 10 * time.Second

// logRing holds the newest lines the worker logged, written as a Locust
// worker writes its own: "[2026-12-01 17:49:08,526] host/INFO/boomer: msg".
type logRing struct {
	host string
	mu   sync.Mutex
	buf  []string
	seq  int64 // lines appended since the start
}

func newLogRing() *logRing {
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	return &logRing{host: host}
}

func (r *logRing) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.buf) == maxLogLines {
		copy(r.buf, r.buf[1:])
		r.buf = r.buf[:maxLogLines-1]
	}
	r.buf = append(r.buf, line)
	r.seq++
}

// since returns the lines kept when more were appended after seq, and
// the new count.
func (r *logRing) since(seq int64) ([]string, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seq == seq {
		return nil, seq
	}
	return append([]string(nil), r.buf...), r.seq
}

// teeHandler writes each record the worker's handler takes into the ring
// too.
type teeHandler struct {
	next  slog.Handler
	ring  *logRing
	attrs string // the With attributes, formatted
	group string
}

func (h *teeHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *teeHandler) Handle(ctx context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString("[")
	b.WriteString(rec.Time.Format("2006-01-02 15:04:05,000"))
	b.WriteString("] ")
	b.WriteString(h.ring.host)
	b.WriteString("/")
	b.WriteString(pyLevel(rec.Level))
	b.WriteString("/boomer: ")
	b.WriteString(rec.Message)
	b.WriteString(h.attrs)
	rec.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.group, a)
		return true
	})
	h.ring.add(b.String())
	return h.next.Handle(ctx, rec)
}

func (h *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		writeAttr(&b, h.group, a)
	}
	return &teeHandler{next: h.next.WithAttrs(as), ring: h.ring, attrs: b.String(), group: h.group}
}

func (h *teeHandler) WithGroup(name string) slog.Handler {
	return &teeHandler{next: h.next.WithGroup(name), ring: h.ring, attrs: h.attrs, group: h.group + name + "."}
}

func writeAttr(b *strings.Builder, group string, a slog.Attr) {
	if a.Equal(slog.Attr{}) {
		return
	}
	b.WriteString(" ")
	b.WriteString(group)
	b.WriteString(a.Key)
	b.WriteString("=")
	v := a.Value.Resolve().String()
	if strings.ContainsAny(v, " \"=") {
		v = pyQuote(v)
	}
	b.WriteString(v)
}

func pyQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// pyLevel names a level as Python's logging does.
func pyLevel(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	case l < slog.LevelError+4:
		return "ERROR"
	}
	return "CRITICAL"
}
