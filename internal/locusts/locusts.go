// Package locusts finds the Locust installations the project runs: the
// version pinned in requirements.txt (in the project's .venv) and Debian's
// python3-locust 2.12.1, the oldest supported.
package locusts

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"serverlab/internal/repo"
)

// Locust is one runnable installation.
type Locust struct {
	Path    string // the locust executable
	Version string // e.g. "2.47.0"
	Python  string // the interpreter it runs on, for helper scripts
}

// PinnedVersion is the version requirements.txt pins.
func PinnedVersion() (string, error) {
	root, err := repo.Root()
	if err != nil {
		return "", err
	}
	f, err := os.Open(filepath.Join(root, "requirements.txt"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "locust=="); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s: no locust==VERSION line", f.Name())
}

// Pinned is the project venv's Locust, made by scripts/setup.sh.
func Pinned() (Locust, error) {
	root, err := repo.Root()
	if err != nil {
		return Locust{}, err
	}
	want, err := PinnedVersion()
	if err != nil {
		return Locust{}, err
	}
	return inVenv(filepath.Join(root, ".venv"), want, "pinned locust", "requirements.txt wants")
}

// inVenv is the Locust of the venv dir, which must be version want; what
// and wants name it and the requirement in errors.
func inVenv(dir, want, what, wants string) (Locust, error) {
	l := Locust{Path: filepath.Join(dir, "bin", "locust"), Python: filepath.Join(dir, "bin", "python")}
	v, err := Version(l.Path)
	if err != nil {
		return Locust{}, fmt.Errorf("%s %s: %v (run scripts/setup.sh)", what, want, err)
	}
	if v != want {
		return Locust{}, fmt.Errorf("%s: %s is %s, %s %s (run scripts/setup.sh)", what, l.Path, v, wants, want)
	}
	l.Version = v
	return l, nil
}

// Debian is Debian's python3-locust. It reports an empty __version__, so the
// version comes from the package database.
func Debian() (Locust, error) {
	l := Locust{Path: "/usr/bin/locust", Python: "/usr/bin/python3"}
	if _, err := os.Stat(l.Path); err != nil {
		return Locust{}, fmt.Errorf("python3-locust: %w (apt-get install python3-locust, or run scripts/setup.sh)", err)
	}
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "python3-locust").Output()
	if err != nil {
		return Locust{}, fmt.Errorf("python3-locust: dpkg-query: %w", err)
	}
	l.Version, _, _ = strings.Cut(strings.TrimSpace(string(out)), "-")
	return l, nil
}

var versionRE = regexp.MustCompile(`^locust (\S*)`)

// Version asks a locust executable for its version; "" for Debian's build,
// which does not know its own.
func Version(path string) (string, error) {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %v", path, err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s --version printed %q", path, strings.TrimSpace(string(out)))
	}
	return string(m[1]), nil
}

// OldestVersion is Debian's python3-locust's version, the oldest supported.
const OldestVersion = "2.12.1"

// DebianWorkers is the Locust whose Python workers join Debian's master:
// the same 2.12.1 from PyPI, in .venv-locust-2.12.1 on Debian's libraries
// (scripts/setup.sh). Debian's own build reports an empty version, which
// its master refuses from a worker as "pre 2.0".
func DebianWorkers() (Locust, error) {
	root, err := repo.Root()
	if err != nil {
		return Locust{}, err
	}
	return PyPIWorkers(root, OldestVersion)
}

// PyPIWorkers is the Locust of version from PyPI that scripts/setup.sh
// puts in root's .venv-locust-VERSION, for Python workers.
func PyPIWorkers(root, version string) (Locust, error) {
	return inVenv(filepath.Join(root, ".venv-locust-"+version), version, "locust from PyPI", "want")
}
