package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// The c10k preset scaled down, on a real master: 1400 LabUsers, more than
// select can watch, over two Go workers, the targets at --max-fds 1500.
// epoll holds nearly every user; select stops at its 1023 descriptors,
// and the report says so.
func TestC10KEndToEnd(t *testing.T) {
	t.Parallel()
	target := testbin.Build(t, "serverlab/targets/cmd/target")
	testbin.Build(t, "serverlab/boomer/cmd/boomer")
	pinned, err := locusts.Pinned()
	if err != nil {
		t.Fatalf("the pinned Locust: %v (scripts/setup.sh makes .venv)", err)
	}
	out := filepath.Join(t.TempDir(), "c10k")
	var log strings.Builder
	code := runMain([]string{"--preset", "c10k", "--sweep", "200,1400", "--workers", "2", "--max-fds", "1500",
		"--run-time", "4s", "--models", "epoll,select", "--locust", pinned.Path,
		"--bin", filepath.Dir(target), "--out", out}, io.Discard, &log)
	if code != 0 {
		t.Fatalf("lab run: exit %d\n%s\n%s", code, log.String(), logs(out))
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, held, ok := strings.Cut(string(md), "## Connections held")
	if !ok {
		t.Fatalf("report.md has no Connections held:\n%s", md)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(held, "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) == 7 {
			rows[strings.TrimPrefix(cells[0], "| ")] = cells
		}
	}
	most := func(m string) float64 {
		v, _ := strconv.ParseFloat(rows[m][1], 64)
		return v
	}
	if most("epoll") < 1260 {
		t.Errorf("epoll held %v of 1400 connections, want nine in ten at least:\n%s", most("epoll"), held)
	}
	if s := rows["select"]; s == nil || most("select") > 1024 || !strings.Contains(s[6], "at 1400 users") || !strings.Contains(s[6], "select's FD") {
		t.Errorf("select's row: %q, want at most 1024 held and FD_SETSIZE named at 1400 users:\n%s", s, held)
	}
	for _, f := range []string{"held-connections.png", "held-rss.svg", "held-cpu.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	var meta struct {
		Parameters struct {
			Preset  string `json:"preset"`
			Workers int    `json:"workers"`
			MaxFDs  int    `json:"max_fds"`
		} `json:"parameters"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "meta.json"))
	if err := json.Unmarshal(b, &meta); err != nil || meta.Parameters.Preset != "c10k" || meta.Parameters.Workers != 2 || meta.Parameters.MaxFDs != 1500 {
		t.Errorf("meta.json: %+v, %v\n%s", meta.Parameters, err, b)
	}
}
