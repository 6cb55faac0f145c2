package targets_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"serverlab/internal/repo"
)

// mayImport are the models built on another model: the reactor is N
// epoll loops.
var mayImport = map[string]string{"reactor": "epoll"}

// leans lists, for a package graph (import path: its deps, all of them),
// each package that depends on a model other than its own: a model
// leaning on another model, or a shared layer leaning on a model, except
// mayImport's.
func leans(graph map[string][]string, models []string) []string {
	model := func(path string) string {
		rest, ok := strings.CutPrefix(path, "serverlab/targets/")
		if !ok {
			return ""
		}
		first, _, _ := strings.Cut(rest, "/")
		if slices.Contains(models, first) {
			return first
		}
		return ""
	}
	var out []string
	for pkg, deps := range graph {
		own := model(pkg)
		for _, d := range deps {
			if m := model(d); m != "" && m != own && mayImport[own] != m {
				out = append(out, pkg+" imports "+d)
			}
		}
	}
	slices.Sort(out)
	return out
}

// No model imports another (the reactor's epoll aside), and no shared
// layer of the targets imports a model: the model is the only variable.
// bin/target, which lists them all, is the one package that may.
func TestNoModelImportsAnother(t *testing.T) {
	bin := targetBin(t)
	models := listModels(t, bin)
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./targets/...")
	cmd.Dir = root
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	graph := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "serverlab/targets/cmd/target" {
			continue
		}
		graph[f[0]] = f[1:]
	}
	if len(graph) < len(models) {
		t.Fatalf("go list gave %d packages for %d models:\n%s", len(graph), len(models), b)
	}
	if l := leans(graph, models); len(l) > 0 {
		t.Errorf("a model leans on another model:\n%s", strings.Join(l, "\n"))
	}
	// The check itself catches what it is for.
	bad := map[string][]string{
		"serverlab/targets/prefork":   {"serverlab/targets/process", "serverlab/targets/server"},
		"serverlab/targets/server":    {"serverlab/targets/single"},
		"serverlab/targets/reactor":   {"serverlab/targets/epoll"},
		"serverlab/targets/nethttp/x": {"serverlab/targets/nethttp"},
	}
	want := []string{"serverlab/targets/prefork imports serverlab/targets/process", "serverlab/targets/server imports serverlab/targets/single"}
	if got := leans(bad, models); !slices.Equal(got, want) {
		t.Errorf("on a graph with two leans: %q, want %q", got, want)
	}
}
