// The README's commands are tested here: every indented block of README.md has
// a marker, an HTML comment on the line before it (a blank line between):
//
//	<!-- doc: run -->                       run here, line by line
//	<!-- doc: covered by PATH TestName -->  a test, script or make target runs
//	                                        it; both are checked to exist
//	<!-- doc: not in CI: why -->            cannot run here, and why
//	<!-- doc: output -->                    what a command prints, not a command
//	<!-- doc: layout -->                    the Layout section, checked below
package serverlab_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"serverlab/internal/launch"
	"serverlab/internal/repo"
	"serverlab/internal/testbin"
)

// block is one indented block of README.md.
type block struct {
	line   int    // of its first line, 1-based
	marker string // the marker's text after "doc:", "" if none
	lines  []string
}

var markerRE = regexp.MustCompile(`^<!-- doc: (.+?) -->$`)

// readme returns the repository's root and its README.md.
func readme(t *testing.T) (root string, text []byte) {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return root, b
}

// readmeBlocks returns README.md's indented blocks, with their markers.
// Lines inside a multi-line HTML comment are not blocks.
func readmeBlocks(t *testing.T) []block {
	t.Helper()
	_, b := readme(t)
	var (
		blocks    []block
		cur       *block
		inComment bool
		prevBlank = true
		lastText  string // the last non-blank line outside a block
	)
	for i, l := range strings.Split(string(b), "\n") {
		switch {
		case inComment:
			inComment = !strings.Contains(l, "-->")
			lastText, prevBlank, cur = l, false, nil
			continue
		case strings.HasPrefix(l, "<!--") && !strings.Contains(l, "-->"):
			inComment = true
			lastText, prevBlank, cur = l, false, nil
			continue
		}
		// An indented line after a paragraph continues it; after a blank
		// line it starts a block.
		if strings.HasPrefix(l, "    ") && (cur != nil || prevBlank) {
			if cur == nil {
				blocks = append(blocks, block{line: i + 1})
				cur = &blocks[len(blocks)-1]
				if m := markerRE.FindStringSubmatch(lastText); m != nil {
					cur.marker = m[1]
				}
			}
			cur.lines = append(cur.lines, strings.TrimPrefix(l, "    "))
			prevBlank = false
			continue
		}
		prevBlank = strings.TrimSpace(l) == ""
		if !prevBlank {
			cur, lastText = nil, l
		}
	}
	return blocks
}

// TestReadmeBlocksMarked fails on a block with no marker, and checks what
// each marker claims: the file and test it names exist, the reason is said.
func TestReadmeBlocksMarked(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeBlocks(t)
	if len(blocks) < 10 {
		t.Fatalf("found %d blocks in README.md: the parser is broken", len(blocks))
	}
	for _, b := range blocks {
		where := fmt.Sprintf("README.md:%d (%s)", b.line, b.lines[0])
		switch kind, rest := markerKind(b.marker); kind {
		case "run", "output", "layout":
		case "covered by":
			checkCovered(t, root, where, rest)
		case "not in CI":
			if len(rest) < 10 {
				t.Errorf("%s: `not in CI` says no reason", where)
			}
		default:
			t.Errorf("%s: the block has no `<!-- doc: run|covered by PATH Test|not in CI: why|output|layout -->` on the line before it (a blank line between)", where)
		}
	}
}

// markerKind splits a marker into its kind and the rest.
func markerKind(m string) (kind, rest string) {
	for _, k := range []string{"run", "output", "layout", "covered by", "not in CI"} {
		if r, ok := strings.CutPrefix(m, k); ok && (r == "" || strings.ContainsAny(r[:1], " :(")) {
			return k, strings.TrimLeft(r, " :")
		}
	}
	return "", m
}

// checkCovered checks a `covered by` marker: "PATH [TestName...][, PATH ...]
// [(why)]": each PATH exists, each test is a func in the file before it.
func checkCovered(t *testing.T, root, where, rest string) {
	t.Helper()
	rest, _, _ = strings.Cut(rest, " (")
	if strings.TrimSpace(rest) == "" {
		t.Errorf("%s: `covered by` names nothing", where)
	}
	for _, part := range strings.Split(rest, ",") {
		f := strings.Fields(part)
		if len(f) == 0 {
			t.Errorf("%s: an empty entry in `covered by`", where)
			continue
		}
		src, err := os.ReadFile(filepath.Join(root, f[0]))
		if err != nil {
			t.Errorf("%s: covered by %s: %v", where, f[0], err)
			continue
		}
		for _, name := range f[1:] {
			if !regexp.MustCompile(`(?m)^func `+regexp.QuoteMeta(name)+`\(`).Match(src) &&
				!regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(name)+`:`).Match(src) {
				t.Errorf("%s: covered by %s %s: no such test or target there", where, f[0], name)
			}
		}
	}
}

// TestReadmeCommands runs every block marked `run` against binaries built
// from this checkout, from a folder that looks like the checkout with
// bin/ holding them. Each loopback port a block names is swapped for a
// free one, so that the test never meets a server of someone else's; a
// line that starts bin/target serving runs in the background until the
// block ends, and must then stop cleanly on SIGTERM.
func TestReadmeCommands(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "bin" || e.Name() == ".git" {
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Dir(testbin.Build(t, "serverlab/targets/cmd/target"))
	testbin.Build(t, "serverlab/cmd/lab")
	testbin.Build(t, "serverlab/boomer/cmd/boomer")
	if err := os.Symlink(bin, filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, b := range readmeBlocks(t) {
		if kind, _ := markerKind(b.marker); kind != "run" {
			continue
		}
		ran++
		t.Run(strconv.Itoa(b.line), func(t *testing.T) { runBlock(t, dir, b) })
	}
	if ran == 0 {
		t.Fatal("no block of README.md is marked `run`")
	}
}

var loopbackPort = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)

func runBlock(t *testing.T, dir string, b block) {
	ports := map[string]string{}
	for _, line := range commands(b.lines) {
		line = loopbackPort.ReplaceAllStringFunc(line, func(s string) string {
			if _, ok := ports[s]; !ok {
				ports[s] = fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t))
			}
			return ports[s]
		})
		if strings.HasPrefix(line, "bin/target ") && strings.Contains(line, "--addr") {
			serve(t, dir, line)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", line)
		cmd.Dir = dir
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Errorf("README.md:%d: `%s`: %v\n%s%s", b.line, line, err, out, stderr.String())
		} else if len(strings.TrimSpace(string(out))) == 0 {
			t.Errorf("README.md:%d: `%s` printed nothing on stdout\n%s", b.line, line, stderr.String())
		}
	}
}

// serve starts a target the way a reader's terminal does and stops it with
// SIGTERM when the block is done.
func serve(t *testing.T, dir, line string) {
	t.Helper()
	cmd := exec.Command("bash", "-c", "exec "+line)
	cmd.Dir = dir
	var stderr testbin.Output
	cmd.Stderr = &stderr
	p, err := launch.Start(cmd, 30*time.Second)
	if err != nil {
		t.Fatalf("`%s`: %v\n%s", line, err, stderr.String())
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.Exited():
			if err := p.Err(); err != nil {
				t.Errorf("`%s` after SIGTERM: %v\n%s", line, err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-p.Exited()
			t.Errorf("`%s` still running 20s after SIGTERM", line)
		}
	})
}

// commands joins a block's continued lines (ending in a backslash) into one
// command each and drops blank lines.
func commands(lines []string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if c, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(c)
			continue
		}
		cur.WriteString(l)
		out = append(out, strings.TrimSpace(cur.String()))
		cur.Reset()
	}
	return out
}

// TestReadmeLayout checks the Layout section against the tree: every path
// it names exists, and every Go package and Python package folder is listed
// (or is under a listed folder, or holds one).
func TestReadmeLayout(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	var layout *block
	for _, b := range readmeBlocks(t) {
		if b.marker == "layout" {
			layout = &b
		}
	}
	if layout == nil {
		t.Fatal("README.md has no block marked `layout`")
	}
	var listed []string // paths, "targets/*" for targets/<model>
	for _, l := range layout.lines {
		if l == "" || strings.HasPrefix(l, " ") {
			continue // a description's second line
		}
		entry, _, _ := strings.Cut(l, "  ")
		prev := ""
		for _, p := range strings.Split(entry, ", ") {
			p = strings.TrimSuffix(strings.TrimSpace(p), "/")
			if !strings.Contains(p, "/") && prev != "" && !exists(root, p) {
				p = filepath.Join(filepath.Dir(prev), p) // "results/lab, max"
			}
			p = strings.ReplaceAll(p, "<model>", "*")
			prev = p
			matches, _ := filepath.Glob(filepath.Join(root, p))
			if len(matches) == 0 {
				t.Errorf("Layout lists %s: no such file or folder", p)
			}
			listed = append(listed, p)
		}
	}
	for _, dir := range packageDirs(t, root) {
		if !coveredBy(dir, listed) {
			t.Errorf("%s is a package folder the Layout section does not list", dir)
		}
	}
}

func exists(root, p string) bool {
	_, err := os.Stat(filepath.Join(root, p))
	return err == nil
}

// coveredBy reports whether dir is listed, under a listed path, or holds one.
func coveredBy(dir string, listed []string) bool {
	for _, p := range listed {
		if ok, _ := filepath.Match(p, dir); ok || strings.HasPrefix(dir, p+"/") || strings.HasPrefix(p, dir+"/") {
			return true
		}
		if strings.HasSuffix(p, "/*") && strings.HasPrefix(dir, strings.TrimSuffix(p, "*")) {
			return true // targets/<model> and what a model holds
		}
	}
	return false
}

// packageDirs are the folders, relative to root, of every Go package and of
// every Python package (a folder with __init__.py).
func packageDirs(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.Dir}}", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("go list: %v\n%s", err, ee.Stderr)
	} else if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var dirs []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if rel, err := filepath.Rel(root, sc.Text()); err == nil && rel != "." {
			dirs = append(dirs, rel)
		}
	}
	inits, _ := filepath.Glob(filepath.Join(root, "*", "__init__.py"))
	for _, i := range inits {
		rel, _ := filepath.Rel(root, filepath.Dir(i))
		dirs = append(dirs, rel)
	}
	return dirs
}
