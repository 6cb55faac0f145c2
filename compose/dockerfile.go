package compose

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Dockerfile is the part of a Dockerfile the checks read: its stages and,
// per stage, the instructions (continuation lines joined, comments dropped).
type Dockerfile struct {
	Path   string
	Stages []Stage
}

// Stage is one FROM and what follows it.
type Stage struct {
	Name   string // the AS name, "" if none
	Base   string // the image or earlier stage it starts from
	Instrs []Instr
}

// Instr is one instruction: its keyword upper-cased and the rest.
type Instr struct {
	Cmd, Args string
}

// Stage returns the stage called name, or nil.
func (d *Dockerfile) Stage(name string) *Stage {
	for i := range d.Stages {
		if strings.EqualFold(d.Stages[i].Name, name) {
			return &d.Stages[i]
		}
	}
	return nil
}

// ParseDockerfile reads the stages of a Dockerfile. It handles what the
// project's Dockerfiles use: FROM [--platform=...] IMAGE [AS NAME],
// backslash continuations and # comments.
func ParseDockerfile(path string) (*Dockerfile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := &Dockerfile{Path: path}
	var logical []string
	cur := ""
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasSuffix(t, "\\") {
			cur += strings.TrimSuffix(t, "\\") + " "
			continue
		}
		cur += t
		if strings.TrimSpace(cur) != "" {
			logical = append(logical, strings.TrimSpace(cur))
		}
		cur = ""
	}
	if strings.TrimSpace(cur) != "" {
		logical = append(logical, strings.TrimSpace(cur))
	}
	for _, l := range logical {
		cmd, args, _ := strings.Cut(l, " ")
		in := Instr{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			if len(f) == 0 {
				return nil, fmt.Errorf("%s: FROM without an image", path)
			}
			st := Stage{Base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.Name = f[2]
			}
			d.Stages = append(d.Stages, st)
			continue
		}
		if len(d.Stages) == 0 {
			if in.Cmd == "ARG" {
				continue // ARGs before the first FROM parameterise it
			}
			return nil, fmt.Errorf("%s: %s before the first FROM", path, in.Cmd)
		}
		st := &d.Stages[len(d.Stages)-1]
		st.Instrs = append(st.Instrs, in)
	}
	if len(d.Stages) == 0 {
		return nil, fmt.Errorf("%s: no FROM", path)
	}
	return d, nil
}

var (
	goBuilderTag = regexp.MustCompile(`^golang:(\d+\.\d+)\.\d+-[a-z]+$`)
	goDirective  = regexp.MustCompile(`(?m)^go (\d+\.\d+)`)
	cgoOff       = regexp.MustCompile(`\bCGO_ENABLED[= ]0\b`)
	copyFrom     = regexp.MustCompile(`--from=(\S+)`)
)

// dockerfile checks one of the project's Dockerfiles: a Go builder stage
// pinned to the module's Go release, a static -trimpath build, pinned bases,
// and final stages that run as a numeric non-root user.
func (c *checker) dockerfile(rel string) {
	d, err := ParseDockerfile(filepath.Join(c.root, rel))
	if err != nil {
		c.addf("%v", err)
		return
	}
	if len(d.Stages) < 2 {
		c.addf("%s: %d stage, want a builder and a final image", rel, len(d.Stages))
	}
	goVersion := ""
	if b, err := os.ReadFile(filepath.Join(c.root, "go.mod")); err == nil {
		if m := goDirective.FindSubmatch(b); m != nil {
			goVersion = string(m[1])
		}
	}
	builders := 0
	for _, st := range d.Stages {
		if d.Stage(st.Base) != nil {
			continue // built on an earlier stage
		}
		if err := pinned(st.Base); err != nil {
			c.addf("%s: FROM %s: %v", rel, st.Base, err)
		}
		if !strings.HasPrefix(st.Base, "golang:") {
			continue
		}
		builders++
		m := goBuilderTag.FindStringSubmatch(st.Base)
		if m == nil {
			c.addf("%s: FROM %s: want a full golang:X.Y.Z-DISTRO tag", rel, st.Base)
		} else if goVersion != "" && m[1] != goVersion {
			c.addf("%s: FROM %s: go.mod wants Go %s", rel, st.Base, goVersion)
		}
		static, trimpath := false, false
		for _, in := range st.Instrs {
			if in.Cmd == "ENV" && cgoOff.MatchString(in.Args) {
				static = true
			}
			if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
				if cgoOff.MatchString(in.Args) {
					static = true
				}
				trimpath = strings.Contains(in.Args, "-trimpath")
			}
		}
		if !static {
			c.addf("%s: stage %s does not build with CGO_ENABLED=0", rel, st.Name)
		}
		if !trimpath {
			c.addf("%s: stage %s does not go build -trimpath", rel, st.Name)
		}
	}
	if builders == 0 {
		c.addf("%s: no golang builder stage", rel)
	}
	// Final stages: those no later stage builds on or copies from.
	used := map[string]bool{}
	for _, st := range d.Stages {
		used[strings.ToLower(st.Base)] = true
		for _, in := range st.Instrs {
			if in.Cmd == "COPY" {
				if m := copyFrom.FindStringSubmatch(in.Args); m != nil {
					used[strings.ToLower(m[1])] = true
				}
			}
		}
	}
	for i, st := range d.Stages {
		if used[strings.ToLower(st.Name)] || used[strconv.Itoa(i)] {
			continue
		}
		user := ""
		for _, in := range st.Instrs {
			if in.Cmd == "USER" {
				user = in.Args
			}
		}
		name := st.Name
		if name == "" {
			name = strconv.Itoa(i)
		}
		uid, _, _ := strings.Cut(user, ":")
		n, err := strconv.Atoi(uid)
		switch {
		case user == "":
			c.addf("%s: final stage %s has no USER (runs as root)", rel, name)
		case err != nil:
			c.addf("%s: final stage %s: USER %s is not numeric", rel, name, user)
		case n == 0:
			c.addf("%s: final stage %s runs as root", rel, name)
		}
	}
}
