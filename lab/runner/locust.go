package runner

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"serverlab/internal/locusts"
)

// MinLocust is the oldest Locust whose master the workers and the CSV
// reader are known to work with (Debian's python3-locust).
const MinLocust = "2.12"

// LocustEnv names the environment variable that chooses the master's
// Locust, as --locust does.
const LocustEnv = "LAB_LOCUST"

// ChooseLocust picks the Locust master to run. choice (--locust), else
// $LAB_LOCUST, names one: a path, or a command looked up on PATH, at least
// MinLocust. Without either it is the version requirements.txt pins: the
// checkout's .venv, else a `locust` on PATH of exactly that version (as in
// the lab's container image), else a .venv made on the spot (its progress
// goes to log). Never merely the first `locust` on PATH: after setup that
// is Debian's 2.12.1.
func ChooseLocust(root, choice string, log io.Writer) (Choice, error) {
	from := "--locust"
	if choice == "" {
		choice, from = os.Getenv(LocustEnv), LocustEnv
	}
	if choice != "" {
		p, err := exec.LookPath(choice)
		if err != nil {
			return Choice{}, fmt.Errorf("%s %s: %w", from, choice, err)
		}
		l, err := onPath(p)
		if err != nil {
			return Choice{}, fmt.Errorf("%s %s: %w", from, choice, err)
		}
		return Choice{Locust: l, From: from}, nil
	}
	l, err := pinned(root)
	if err == nil {
		return Choice{Locust: l, From: "pinned"}, nil
	}
	why := []string{err.Error()}
	if want, werr := pinnedVersion(root); werr == nil {
		if p, perr := exec.LookPath("locust"); perr == nil {
			if l, oerr := onPath(p); oerr == nil && l.Version == want {
				return Choice{Locust: l, From: "pinned"}, nil
			}
		}
	}
	if err := makeVenv(root, log); err != nil {
		return Choice{}, fmt.Errorf("no pinned Locust (%s); making one failed: %w", strings.Join(why, "; "), err)
	}
	l, err = pinned(root)
	if err != nil {
		return Choice{}, err
	}
	return Choice{Locust: l, From: "pinned"}, nil
}

// describe says why this Locust, for the console.
func (c Choice) describe() string {
	switch c.From {
	case "pinned":
		return "the version requirements.txt pins; --locust or " + LocustEnv + " to run another"
	case "":
		return "given"
	}
	return "chosen by " + c.From
}

// onPath checks the locust found on PATH. Debian's build prints an empty
// version, so /usr/bin/locust is taken for what dpkg says it is.
func onPath(p string) (locusts.Locust, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		real = p
	}
	if real == "/usr/bin/locust" || p == "/usr/bin/locust" {
		l, err := locusts.Debian()
		if err == nil && l.Version != "" && atLeast(l.Version, MinLocust) {
			return l, nil
		}
		if err == nil {
			err = fmt.Errorf("%s is %q, older than %s", p, l.Version, MinLocust)
		}
		return locusts.Locust{}, err
	}
	v, err := locusts.Version(p)
	if err != nil {
		return locusts.Locust{}, err
	}
	if !atLeast(v, MinLocust) {
		return locusts.Locust{}, fmt.Errorf("%s is %q, older than %s", p, v, MinLocust)
	}
	// The interpreter is the one the script's #! names, if any.
	return locusts.Locust{Path: p, Version: v, Python: shebang(p)}, nil
}

func shebang(p string) string {
	b := make([]byte, 256)
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	n, _ := f.Read(b)
	line, _, _ := strings.Cut(string(b[:n]), "\n")
	if py, ok := strings.CutPrefix(line, "#!"); ok {
		return strings.TrimSpace(py)
	}
	return ""
}

// pinned is the checkout's venv Locust at the pinned version.
func pinned(root string) (locusts.Locust, error) {
	want, err := pinnedVersion(root)
	if err != nil {
		return locusts.Locust{}, err
	}
	l := locusts.Locust{
		Path:   filepath.Join(root, ".venv", "bin", "locust"),
		Python: filepath.Join(root, ".venv", "bin", "python"),
	}
	v, err := locusts.Version(l.Path)
	if err != nil {
		return locusts.Locust{}, err
	}
	if v != want {
		return locusts.Locust{}, fmt.Errorf("%s is %s, requirements.txt pins %s", l.Path, v, want)
	}
	l.Version = v
	return l, nil
}

func pinnedVersion(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "requirements.txt"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "locust=="); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s: no locust==VERSION line", filepath.Join(root, "requirements.txt"))
}

// makeVenv creates ROOT/.venv with requirements.txt installed.
func makeVenv(root string, log io.Writer) error {
	py, err := exec.LookPath("python3")
	if err != nil {
		return fmt.Errorf("python3 is not on PATH: install Python 3 (with venv) or Locust >= %s", MinLocust)
	}
	venv := filepath.Join(root, ".venv")
	fmt.Fprintf(log, "lab: making %s with the Locust pinned in requirements.txt\n", venv)
	steps := [][]string{
		{py, "-m", "venv", "--clear", venv},
		{filepath.Join(venv, "bin", "pip"), "install", "-q", "--disable-pip-version-check", "-r", filepath.Join(root, "requirements.txt")},
	}
	for _, s := range steps {
		cmd := exec.Command(s[0], s[1:]...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(s, " "), err)
		}
	}
	return nil
}

// atLeast compares dotted versions numerically ("2.9" < "2.12").
func atLeast(v, min string) bool {
	a, b := strings.Split(v, "."), strings.Split(min, ".")
	for i := range b {
		if i >= len(a) {
			return false
		}
		x, errx := strconv.Atoi(leadingDigits(a[i]))
		y, _ := strconv.Atoi(b[i])
		if errx != nil {
			return false
		}
		if x != y {
			return x > y
		}
	}
	return true
}

func leadingDigits(s string) string {
	for i, r := range s {
		if r < '0' || r > '9' {
			return s[:i]
		}
	}
	return s
}
