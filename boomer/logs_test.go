package boomer

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

// The lines kept for the master's Logs tab read as a Locust worker's
// ("[date] host/LEVEL/name: message"), the newest maxLogLines of them, and
// the worker's own handler still gets every record.
func TestLogRingKeepsLocustStyleLines(t *testing.T) {
	var out bytes.Buffer
	b := NewBoomer(Options{Logger: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	b.log.With("master", "127.0.0.1:5557").Warn("lost master, reconnecting", "reason", "no heartbeat")
	b.log.Debug("quiet")
	lines, seq := b.logs.since(0)
	if seq != 2 || len(lines) != 2 {
		t.Fatalf("kept %q (seq %d)", lines, seq)
	}
	re := regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] [^/\s]+/WARNING/boomer: lost master, reconnecting master=127.0.0.1:5557 reason="no heartbeat"$`)
	if !re.MatchString(lines[0]) {
		t.Errorf("line %q", lines[0])
	}
	if !strings.Contains(lines[1], "/DEBUG/boomer: quiet") {
		t.Errorf("line %q", lines[1])
	}
	if !strings.Contains(out.String(), "lost master") {
		t.Errorf("the worker's own log lacks the record: %q", out.String())
	}
	if l, s := b.logs.since(seq); l != nil || s != seq {
		t.Errorf("nothing new, yet %q", l)
	}
	for i := range maxLogLines + 10 {
		b.log.Info(fmt.Sprint("line ", i))
	}
	lines, _ = b.logs.since(seq)
	if len(lines) != maxLogLines || !strings.HasSuffix(lines[len(lines)-1], fmt.Sprint("line ", maxLogLines+9)) {
		t.Errorf("kept %d lines, last %q", len(lines), lines[len(lines)-1])
	}
}
