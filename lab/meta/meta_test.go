package meta

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"serverlab/lab/regular"
)

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no meta.json: %v", err)
	}
	c := 5.0
	m := &Meta{Started: time.Unix(1700000000, 0).UTC(), Models: []string{"epoll"},
		Parameters: Parameters{Users: 3, ConnectTimeout: &c, OnEMFILE: []string{"wait", "shed"}},
		Runs:       []ModelRun{{Model: "epoll", Name: "epoll-shed", OnEMFILE: "shed"}, {Model: "single"}}}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Parameters.ConnectTimeout != 5 || got.Parameters.OnEMFILE[1] != "shed" || got.Runs[0].Label() != "epoll-shed" || got.Runs[1].Label() != "single" {
		t.Errorf("read back %+v", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
	os.WriteFile(filepath.Join(dir, File), []byte(`{"runs": [`), 0o644)
	if _, err := Read(dir); err == nil {
		t.Error("truncated meta.json read")
	}
	// A FIFO in its place is refused, not waited on.
	os.Remove(filepath.Join(dir, File))
	unix.Mkfifo(filepath.Join(dir, File), 0o644)
	if _, err := Read(dir); !errors.Is(err, regular.ErrNotRegular) {
		t.Errorf("FIFO: %v", err)
	}
}
