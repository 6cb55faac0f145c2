package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"serverlab/boomer/declared"
)

// loadSpec reads the locustfile's declared classes, as the master would
// send them, by asking Python (serverlab_locust.declare) to dump them.
func loadSpec(ctx context.Context, cfg *config) (*declared.Spec, error) {
	file, err := filepath.Abs(cfg.locustfile)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("locustfile: %w", err)
	}
	// serverlab_locust sits next to the locustfile or above it, or in the
	// directory the worker runs in.
	root := findPackage(filepath.Dir(file))
	if root == "" {
		if wd, err := os.Getwd(); err == nil {
			root = findPackage(wd)
		}
	}
	python := cfg.python
	if python == "" {
		python = "python3"
		if root != "" {
			if venv := filepath.Join(root, ".venv", "bin", "python"); isFile(venv) {
				python = venv
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c",
		"import sys; from serverlab_locust import declare; declare.main(sys.argv[1:])", file)
	cmd.Dir = filepath.Dir(file)
	cmd.Env = os.Environ()
	if root != "" {
		path := root
		if old := os.Getenv("PYTHONPATH"); old != "" {
			path += string(os.PathListSeparator) + old
		}
		cmd.Env = append(cmd.Env, "PYTHONPATH="+path)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:] // the error, not the traceback
		}
		var exit *exec.ExitError
		if msg == "" || !errors.As(err, &exit) {
			msg = err.Error()
		}
		return nil, fmt.Errorf("reading the declared classes of %s with %s: %s", cfg.locustfile, python, msg)
	}
	return declared.Parse(stdout.Bytes())
}

// findPackage returns the first of dir and its parents holding
// serverlab_locust/declare.py, or "".
func findPackage(dir string) string {
	for {
		if isFile(filepath.Join(dir, "serverlab_locust", "declare.py")) {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
