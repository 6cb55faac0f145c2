package runner

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeLocustBin writes an executable that says it is Locust v.
func fakeLocustBin(t *testing.T, path, v string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho 'locust "+v+" from /x (python 3.11)'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// The pinned Locust runs by default, not the first on PATH; --locust and
// LAB_LOCUST choose another, and the choice is said.
func TestChooseLocust(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "requirements.txt"), []byte("locust==2.47.0\n"), 0o644)
	venv := filepath.Join(root, ".venv", "bin", "locust")
	fakeLocustBin(t, venv, "2.47.0")
	onPath := t.TempDir()
	fakeLocustBin(t, filepath.Join(onPath, "locust"), "2.20.1")
	t.Setenv("PATH", onPath)
	t.Setenv(LocustEnv, "")

	c, err := ChooseLocust(root, "", io.Discard)
	if err != nil || c.Path != venv || c.Version != "2.47.0" || c.From != "pinned" {
		t.Fatalf("default: %+v, %v", c, err)
	}
	c, err = ChooseLocust(root, "locust", io.Discard)
	if err != nil || c.Path != filepath.Join(onPath, "locust") || c.Version != "2.20.1" || c.From != "--locust" {
		t.Fatalf("--locust locust: %+v, %v", c, err)
	}
	other := filepath.Join(t.TempDir(), "my-locust")
	fakeLocustBin(t, other, "2.31.0")
	t.Setenv(LocustEnv, other)
	c, err = ChooseLocust(root, "", io.Discard)
	if err != nil || c.Path != other || c.From != LocustEnv {
		t.Fatalf("LAB_LOCUST: %+v, %v", c, err)
	}
	if c, err = ChooseLocust(root, venv, io.Discard); err != nil || c.Path != venv || c.From != "--locust" {
		t.Fatalf("--locust wins over LAB_LOCUST: %+v, %v", c, err)
	}
	old := filepath.Join(t.TempDir(), "locust")
	fakeLocustBin(t, old, "2.9.0")
	if _, err := ChooseLocust(root, old, io.Discard); err == nil || !strings.Contains(err.Error(), "older than 2.12") {
		t.Fatalf("too old: %v", err)
	}
	t.Setenv(LocustEnv, "")

	// No venv: a locust on PATH of the pinned version is the pinned one
	// (the lab's container image); of another version it is not.
	os.RemoveAll(filepath.Join(root, ".venv"))
	fakeLocustBin(t, filepath.Join(onPath, "locust"), "2.47.0")
	c, err = ChooseLocust(root, "", io.Discard)
	if err != nil || c.Path != filepath.Join(onPath, "locust") || c.From != "pinned" {
		t.Fatalf("pinned on PATH: %+v, %v", c, err)
	}
	fakeLocustBin(t, filepath.Join(onPath, "locust"), "2.20.1")
	// Making the venv needs python3, which this PATH lacks.
	if c, err := ChooseLocust(root, "", io.Discard); err == nil || !strings.Contains(err.Error(), "python3 is not on PATH") {
		t.Fatalf("no pinned Locust anywhere: %+v, %v", c, err)
	}
}
