package regular

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpenRefusesAFIFOWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "m_stats.csv")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// Opening a FIFO for reading without O_NONBLOCK waits for a writer: a
	// hang here is the bug.
	_, err := Open(fifo)
	if !errors.Is(err, ErrNotRegular) {
		t.Fatalf("FIFO: %v", err)
	}
	if _, err := ReadFile(dir, 10); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("folder: %v", err)
	}
	plain := filepath.Join(dir, "x")
	os.WriteFile(plain, []byte("12345"), 0o644)
	if b, err := ReadFile(plain, 5); err != nil || string(b) != "12345" {
		t.Fatalf("plain: %q %v", b, err)
	}
	if _, err := ReadFile(plain, 4); err == nil {
		t.Fatal("over the size limit: no error")
	}
	if _, err := Open(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}
