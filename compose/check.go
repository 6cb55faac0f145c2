// Package compose checks the docker compose setup (docker-compose.yml, .env
// and the Dockerfiles) against the rest of the project: every model has its
// target service, every target runs under the same limits, images are pinned,
// nothing is published beyond loopback by default. Docker itself is not
// needed: the file is loaded with compose-go, the library docker compose uses,
// so interpolation, anchors and merges are resolved as docker would.
package compose

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// The names the setup is built around; the web UI, the workers and the
// README refer to them.
const (
	ComposeFile     = "docker-compose.yml"
	EnvFile         = ".env"
	MasterService   = "master"
	WorkerService   = "worker"
	LabService      = "lab"
	HeadlessProfile = "headless"
	TargetPrefix    = "target-"
	LocustfileMount = "/mnt/locust/locustfile.py"
	PackageDir      = "serverlab_locust"          // imported by the locustfile, from its own folder
	PackageMount    = "/mnt/locust/" + PackageDir // so mounted beside it
	AdminURLEnv     = "TARGET_ADMIN_URL"          // the master's Target tab samples this
	TargetPort      = 8080
	AdminPort       = 9090
	WebPort         = 8089
	MasterPort      = "5557"
)

// Load reads root's docker-compose.yml with root's .env only (not the
// caller's environment, so a shell variable cannot hide a bad default), with
// the headless profile on so that the lab service is checked too.
func Load(root string) (*types.Project, error) {
	fns := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(root),
		cli.WithProfiles([]string{HeadlessProfile}),
	}
	// Like docker compose, a missing .env means the file's own fallbacks.
	if env := filepath.Join(root, EnvFile); fileExists(env) {
		fns = append(fns, cli.WithEnvFiles(env), cli.WithDotEnv)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, ComposeFile)}, fns...)
	if err != nil {
		return nil, err
	}
	return cli.ProjectFromOptions(context.Background(), opts)
}

// Check returns every problem found in root's compose setup; models are the
// names `bin/target --list` prints. An empty result means the setup is sound.
func Check(root string, models []string) []string {
	c := &checker{root: root, models: models}
	p, err := Load(root)
	if err != nil {
		c.addf("load %s: %v", ComposeFile, err)
		return c.problems
	}
	c.p = p
	c.env = readEnv(filepath.Join(root, EnvFile))
	c.targets()
	c.master()
	c.worker()
	c.lab()
	c.everyService()
	c.locustfileTargets()
	for _, df := range []string{"targets/Dockerfile", "boomer/Dockerfile"} {
		c.dockerfile(df)
	}
	return c.problems
}

type checker struct {
	root     string
	models   []string
	p        *types.Project
	env      map[string]string
	problems []string
}

func (c *checker) addf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *checker) service(name string) (types.ServiceConfig, bool) {
	s, ok := c.p.Services[name]
	if !ok {
		c.addf("service %s is missing", name)
	}
	return s, ok
}

// targets: one service per model, all alike but for --model.
func (c *checker) targets() {
	if len(c.models) == 0 {
		c.addf("no models to check against")
		return
	}
	for name := range c.p.Services {
		if m, ok := strings.CutPrefix(name, TargetPrefix); ok && !slices.Contains(c.models, m) {
			c.addf("service %s: bin/target has no model %q", name, m)
		}
	}
	var first *types.ServiceConfig
	for _, m := range c.models {
		s, ok := c.service(TargetPrefix + m)
		if !ok {
			continue
		}
		want := []string{"--model", m, "--addr", fmt.Sprintf("0.0.0.0:%d", TargetPort),
			"--admin-addr", fmt.Sprintf("0.0.0.0:%d", AdminPort)}
		if !slices.Equal(s.Command, want) {
			c.addf("service %s: command is %q, want %q", s.Name, s.Command, want)
		}
		c.builtFrom(s, "targets/Dockerfile", "")
		c.limits(s)
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 2 ||
			!strings.Contains(strings.Join(s.HealthCheck.Test, " "), fmt.Sprintf(":%d/healthz", AdminPort)) {
			c.addf("service %s: no health check on the admin /healthz", s.Name)
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			c.addf("service %s: restart is %q, want %s", s.Name, s.Restart, types.RestartPolicyUnlessStopped)
		}
		if first == nil {
			first = &s
			continue
		}
		if s.Image != first.Image {
			c.addf("service %s: image %s differs from %s's %s", s.Name, s.Image, first.Name, first.Image)
		}
		if d := limitsDiff(*first, s); d != "" {
			c.addf("service %s: limits differ from %s's: %s", s.Name, first.Name, d)
		}
		if !slices.Equal(s.HealthCheck.Test, first.HealthCheck.Test) {
			c.addf("service %s: health check differs from %s's", s.Name, first.Name)
		}
	}
}

// limits: each target's limits are set, and are the .env defaults (so that
// .env is the one place to change them).
func (c *checker) limits(s types.ServiceConfig) {
	nofile := s.Ulimits["nofile"]
	switch {
	case s.CPUS <= 0:
		c.addf("service %s: no cpus limit", s.Name)
	case s.MemLimit <= 0:
		c.addf("service %s: no mem_limit", s.Name)
	case s.PidsLimit <= 0:
		c.addf("service %s: no pids_limit", s.Name)
	case nofile == nil || nofile.Soft <= 0 || nofile.Hard < nofile.Soft:
		c.addf("service %s: no ulimits.nofile soft/hard", s.Name)
	}
	if v, ok := c.env["TARGET_CPUS"]; !ok {
		c.addf("%s: no TARGET_CPUS", EnvFile)
	} else if f, err := strconv.ParseFloat(v, 32); err != nil || float32(f) != s.CPUS {
		c.addf("service %s: cpus %v is not TARGET_CPUS=%s", s.Name, s.CPUS, v)
	}
	if v, ok := c.env["TARGET_MEM"]; !ok {
		c.addf("%s: no TARGET_MEM", EnvFile)
	} else if b, err := parseBytes(v); err != nil || b != int64(s.MemLimit) {
		c.addf("service %s: mem_limit %d is not TARGET_MEM=%s", s.Name, s.MemLimit, v)
	}
	if v, ok := c.env["TARGET_PIDS"]; !ok {
		c.addf("%s: no TARGET_PIDS", EnvFile)
	} else if n, err := strconv.ParseInt(v, 10, 64); err != nil || n != s.PidsLimit {
		c.addf("service %s: pids_limit %d is not TARGET_PIDS=%s", s.Name, s.PidsLimit, v)
	}
	if v, ok := c.env["TARGET_NOFILE"]; !ok {
		c.addf("%s: no TARGET_NOFILE", EnvFile)
	} else if n, err := strconv.Atoi(v); nofile != nil && (err != nil || n != nofile.Soft || n != nofile.Hard) {
		c.addf("service %s: ulimits.nofile %d/%d is not TARGET_NOFILE=%s", s.Name, nofile.Soft, nofile.Hard, v)
	}
}

// limitsDiff names the resource limits in which a and b differ.
func limitsDiff(a, b types.ServiceConfig) string {
	var d []string
	if a.CPUS != b.CPUS {
		d = append(d, fmt.Sprintf("cpus %v != %v", a.CPUS, b.CPUS))
	}
	if a.MemLimit != b.MemLimit {
		d = append(d, fmt.Sprintf("mem_limit %d != %d", a.MemLimit, b.MemLimit))
	}
	if a.PidsLimit != b.PidsLimit {
		d = append(d, fmt.Sprintf("pids_limit %d != %d", a.PidsLimit, b.PidsLimit))
	}
	if a.MemReservation != b.MemReservation || a.MemSwapLimit != b.MemSwapLimit ||
		a.CPUShares != b.CPUShares || a.CPUQuota != b.CPUQuota || a.CPUSet != b.CPUSet {
		d = append(d, "other cpu or memory settings")
	}
	if fmt.Sprint(ulimits(a)) != fmt.Sprint(ulimits(b)) {
		d = append(d, fmt.Sprintf("ulimits %v != %v", ulimits(a), ulimits(b)))
	}
	return strings.Join(d, ", ")
}

// ulimits as a sorted, printable list.
func ulimits(s types.ServiceConfig) []string {
	var out []string
	for k, u := range s.Ulimits {
		out = append(out, fmt.Sprintf("%s=%d/%d/%d", k, u.Single, u.Soft, u.Hard))
	}
	slices.Sort(out)
	return out
}

// master: the pinned Locust with the repository's locustfile, its web UI on
// loopback, its worker port on the project network only.
func (c *checker) master() {
	s, ok := c.service(MasterService)
	if !ok {
		return
	}
	if pin := c.pinnedLocust(); pin != "" && s.Image != "locustio/locust:"+pin {
		c.addf("service %s: image %s, want locustio/locust:%s (requirements.txt)", s.Name, s.Image, pin)
	}
	cmd := strings.Join(s.Command, " ")
	if !strings.Contains(cmd, "-f "+LocustfileMount) || !slices.Contains(s.Command, "--master") {
		c.addf("service %s: command %q does not run -f %s --master", s.Name, cmd, LocustfileMount)
	}
	mounted := false
	for _, v := range s.Volumes {
		if v.Target != LocustfileMount {
			continue
		}
		mounted = true
		if v.Type != types.VolumeTypeBind || filepath.Clean(v.Source) != filepath.Join(c.root, "locustfile.py") {
			c.addf("service %s: %s is not a bind mount of locustfile.py (source %s)", s.Name, v.Target, v.Source)
		} else if _, err := os.Stat(v.Source); err != nil {
			c.addf("service %s: the mounted locustfile: %v", s.Name, err)
		}
		if !v.ReadOnly {
			c.addf("service %s: locustfile mount is writable", s.Name)
		}
	}
	if !mounted {
		c.addf("service %s: no volume mounted at %s", s.Name, LocustfileMount)
	}
	c.packageMount(s)
	if v := s.Environment[AdminURLEnv]; v == nil {
		c.addf("service %s: no %s for the Target tab", s.Name, AdminURLEnv)
	} else {
		c.modelURLs(s, AdminURLEnv, *v, AdminPort)
	}
	if !publishes(s, WebPort) {
		c.addf("service %s: web UI port %d not published", s.Name, WebPort)
	}
	if publishes(s, 5557) {
		c.addf("service %s: master port %s is published; expose it only", s.Name, MasterPort)
	}
	if !slices.Contains(s.Expose, MasterPort) {
		c.addf("service %s: does not expose %s to the workers", s.Name, MasterPort)
	}
	for _, m := range c.models {
		if d, ok := s.DependsOn[TargetPrefix+m]; !ok || d.Condition != types.ServiceConditionHealthy {
			c.addf("service %s: does not wait for %s%s to be healthy", s.Name, TargetPrefix, m)
		}
	}
}

// worker: scalable, and its --target-url template names a real service for
// every model.
func (c *checker) worker() {
	s, ok := c.service(WorkerService)
	if !ok {
		return
	}
	c.builtFrom(s, "boomer/Dockerfile", "worker")
	if s.ContainerName != "" {
		c.addf("service %s: container_name %s stops it from scaling", s.Name, s.ContainerName)
	}
	for _, port := range s.Ports {
		if port.Published != "" {
			c.addf("service %s: publishes port %s, which stops it from scaling", s.Name, port.Published)
		}
	}
	if s.Restart != types.RestartPolicyOnFailure {
		c.addf("service %s: restart is %q, want %s", s.Name, s.Restart, types.RestartPolicyOnFailure)
	}
	if d, ok := s.DependsOn[MasterService]; !ok || d.Condition == "" {
		c.addf("service %s: does not depend on %s", s.Name, MasterService)
	}
	if v := flagValue(s.Command, "--master-host"); v != MasterService {
		c.addf("service %s: --master-host is %q, want %s", s.Name, v, MasterService)
	}
	c.modelURLs(s, "--target-url", flagValue(s.Command, "--target-url"), TargetPort)
}

// packageMount: the Python package the locustfile imports is bind-mounted,
// read-only, in the locustfile's folder.
func (c *checker) packageMount(s types.ServiceConfig) {
	for _, v := range s.Volumes {
		if v.Target != PackageMount {
			continue
		}
		src := filepath.Join(c.root, PackageDir)
		if v.Type != types.VolumeTypeBind || filepath.Clean(v.Source) != src {
			c.addf("service %s: %s is not a bind mount of %s (source %s)", s.Name, v.Target, PackageDir, v.Source)
		} else if st, err := os.Stat(src); err != nil || !st.IsDir() {
			c.addf("service %s: the mounted %s is not a folder: %v", s.Name, PackageDir, err)
		}
		if !v.ReadOnly {
			c.addf("service %s: %s mount is writable", s.Name, PackageDir)
		}
		return
	}
	c.addf("service %s: no volume mounted at %s (the locustfile imports it)", s.Name, PackageMount)
}

// modelURLs: a URL template (what names it) whose {model} turns into the
// URL of that model's target service on port, for every model.
func (c *checker) modelURLs(s types.ServiceConfig, what, tmpl string, port int) {
	if !strings.Contains(tmpl, "{model}") {
		c.addf("service %s: %s %q has no {model}", s.Name, what, tmpl)
		return
	}
	for _, m := range c.models {
		raw := strings.ReplaceAll(tmpl, "{model}", m)
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "http" {
			c.addf("service %s: %s for %s: %q is not an http URL", s.Name, what, m, raw)
			continue
		}
		if _, ok := c.p.Services[u.Hostname()]; !ok {
			c.addf("service %s: %s for %s names %s, which is no service", s.Name, what, m, u.Hostname())
		}
		if u.Port() != strconv.Itoa(port) {
			c.addf("service %s: %s for %s uses port %q, targets listen on %d", s.Name, what, m, u.Port(), port)
		}
	}
}

// lab: the headless run writes to ./results on the host.
func (c *checker) lab() {
	s, ok := c.service(LabService)
	if !ok {
		return
	}
	c.builtFrom(s, "boomer/Dockerfile", "lab")
	if !slices.Contains(s.Profiles, HeadlessProfile) {
		c.addf("service %s: not in the %s profile, so `up` would start it", s.Name, HeadlessProfile)
	}
	if len(s.Command) == 0 || s.Command[0] != "run" {
		c.addf("service %s: command %q does not start with run", s.Name, s.Command)
	}
	results := false
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && filepath.Clean(v.Source) == filepath.Join(c.root, "results") {
			results = true
		}
	}
	if !results {
		c.addf("service %s: ./results is not bind-mounted", s.Name)
	}
}

// everyService: pinned images, loopback-only ports, no root users.
func (c *checker) everyService() {
	for _, name := range slices.Sorted(maps.Keys(c.p.Services)) {
		s := c.p.Services[name]
		if s.Image == "" {
			c.addf("service %s: no image name (the built image would be untagged)", name)
		} else if err := pinned(s.Image); err != nil {
			c.addf("service %s: image %s: %v", name, s.Image, err)
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				host := port.HostIP
				if host == "" {
					host = "every interface"
				}
				c.addf("service %s: port %d published on %s, want 127.0.0.1", name, port.Target, host)
			}
		}
		if u := s.User; u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
			c.addf("service %s: runs as root", name)
		}
	}
}

// locustfileTargets: the web UI's choice of models is the models.
func (c *checker) locustfileTargets() {
	b, err := os.ReadFile(filepath.Join(c.root, "locustfile.py"))
	if err != nil {
		c.addf("locustfile.py: %v", err)
		return
	}
	got, err := PythonTargets(string(b))
	if err != nil {
		c.addf("locustfile.py: %v", err)
		return
	}
	want := slices.Clone(c.models)
	slices.Sort(want)
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	if !slices.Equal(sorted, want) {
		c.addf("locustfile.py: TARGETS is %q, want the models %q", got, c.models)
	}
}

var (
	targetsList = regexp.MustCompile(`(?m)^TARGETS\s*(?::[^=]*)?=\s*[\[(]([^\])]*)[\])]`)
	pyString    = regexp.MustCompile(`^(?:"([^"\\]*)"|'([^'\\]*)')$`)
	pyComment   = regexp.MustCompile(`#[^\n]*`)
)

// PythonTargets reads the literal list assigned to TARGETS at the top level of
// a Python file: only string literals, no expressions.
func PythonTargets(src string) ([]string, error) {
	m := targetsList.FindStringSubmatch(src)
	if m == nil {
		return nil, fmt.Errorf("no literal TARGETS = [...] list")
	}
	var out []string
	for _, item := range strings.Split(pyComment.ReplaceAllString(m[1], ""), ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		s := pyString.FindStringSubmatch(item)
		if s == nil {
			return nil, fmt.Errorf("TARGETS item %s is not a plain string literal", item)
		}
		out = append(out, s[1]+s[2])
	}
	return out, nil
}

// builtFrom: s is built from the repository root with dockerfile (and the
// given stage, if any), and the Dockerfile has that stage.
func (c *checker) builtFrom(s types.ServiceConfig, dockerfile, stage string) {
	b := s.Build
	if b == nil {
		c.addf("service %s: not built from %s", s.Name, dockerfile)
		return
	}
	if filepath.Clean(b.Context) != c.root {
		c.addf("service %s: build context %s is not the repository root", s.Name, b.Context)
	}
	if filepath.Clean(b.Dockerfile) != filepath.Clean(dockerfile) {
		c.addf("service %s: built from %s, want %s", s.Name, b.Dockerfile, dockerfile)
	}
	if b.Target != stage {
		c.addf("service %s: build stage %q, want %q", s.Name, b.Target, stage)
	}
	if stage == "" {
		return
	}
	df, err := ParseDockerfile(filepath.Join(c.root, dockerfile))
	if err != nil {
		c.addf("%v", err)
		return
	}
	if df.Stage(stage) == nil {
		c.addf("service %s: %s has no stage %s", s.Name, dockerfile, stage)
	}
}

// publishes reports whether s publishes container port target on the host.
func publishes(s types.ServiceConfig, target uint32) bool {
	for _, p := range s.Ports {
		if p.Target == target {
			return true
		}
	}
	return false
}

// flagValue is the argument after name in args ("" if absent).
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// pinned: an image reference names a version: a digest, or a tag that is not
// "latest".
func pinned(ref string) error {
	if strings.Contains(ref, "@sha256:") {
		return nil
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	i := strings.LastIndex(name, ":")
	if i < 0 {
		return fmt.Errorf("no tag (means latest)")
	}
	if tag := name[i+1:]; tag == "" || tag == "latest" {
		return fmt.Errorf("tag %q is not a version", tag)
	}
	return nil
}

// pinnedLocust is requirements.txt's locust==VERSION.
func (c *checker) pinnedLocust() string {
	b, err := os.ReadFile(filepath.Join(c.root, "requirements.txt"))
	if err != nil {
		c.addf("requirements.txt: %v", err)
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "locust=="); ok {
			return v
		}
	}
	c.addf("requirements.txt: no locust==VERSION line")
	return ""
}

// readEnv reads KEY=VALUE lines, as the defaults the compose file documents.
func readEnv(path string) map[string]string {
	env := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return env
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			env[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return env
}

// parseBytes reads docker's memory sizes: 512m, 1g, 1024k, 1048576.
func parseBytes(s string) (int64, error) {
	s = strings.ToLower(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "b"))
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		}
		if mult > 1 {
			s = s[:n-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	return n * mult, nil
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
