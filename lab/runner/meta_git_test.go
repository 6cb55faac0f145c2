package runner

import (
	"os"
	"path/filepath"
	"testing"
)

// A checkout without .git (the lab image) takes its commit from the
// environment its build set; a real checkout ignores it.
func TestGitStateWithoutGit(t *testing.T) {
	t.Setenv(GitCommitEnv, " 4070402c0ffee \n")
	if g := gitState(t.TempDir()); g.Commit != "4070402c0ffee" || g.Dirty {
		t.Fatalf("without .git: got %+v, want the commit from $%s", g, GitCommitEnv)
	}
	t.Setenv(GitCommitEnv, "")
	if g := gitState(t.TempDir()); g.Commit != "" {
		t.Fatalf("without .git or $%s: got commit %q, want none", GitCommitEnv, g.Commit)
	}
}

func TestMeasured(t *testing.T) {
	dir := t.TempDir()
	if Measured(dir) {
		t.Fatal("an empty folder counted as measured")
	}
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if Measured(dir) {
		t.Fatal("a folder with only meta.json counted as measured")
	}
	if err := os.WriteFile(filepath.Join(dir, "epoll_stats.csv"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if !Measured(dir) {
		t.Fatal("a folder with a stats CSV not counted as measured")
	}
	if Measured(filepath.Join(dir, "missing")) {
		t.Fatal("a missing folder counted as measured")
	}
}
