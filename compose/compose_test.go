package compose

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"serverlab/internal/repo"
	"serverlab/internal/testbin"
)

// contractModels are the models the project promises, in --list order; the
// checker's own tests use them so that they do not depend on which models
// build today.
var contractModels = []string{"single", "process", "prefork", "thread", "threadpool",
	"goroutine", "select", "poll", "busypoll", "epoll", "reactor", "fasthttp", "nethttp"}

// listModels runs the real `bin/target --list`.
func listModels(t *testing.T) []string {
	t.Helper()
	bin := testbin.Build(t, "serverlab/targets/cmd/target")
	out, err := exec.Command(bin, "--list").Output()
	if err != nil {
		t.Fatalf("target --list: %v", err)
	}
	var models []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, _, _ := strings.Cut(line, "\t")
		if name = strings.TrimSpace(name); name != "" {
			models = append(models, name)
		}
	}
	if len(models) == 0 {
		t.Fatalf("target --list printed no models")
	}
	return models
}

func root(t *testing.T) string {
	t.Helper()
	r, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestComposeSetup checks the repository's own compose setup against the
// models bin/target really has.
func TestComposeSetup(t *testing.T) {
	models := listModels(t)
	for _, p := range Check(root(t), models) {
		t.Error(p)
	}
}

// TestLocustfileTargetsAreTheModels is the web UI's model choice, read from
// the repository's locustfile.py, against bin/target --list.
func TestLocustfileTargetsAreTheModels(t *testing.T) {
	models := listModels(t)
	b, err := os.ReadFile(filepath.Join(root(t), "locustfile.py"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := PythonTargets(string(b))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(models))
	if !slices.Equal(got, want) {
		t.Errorf("locustfile.py TARGETS = %q, bin/target --list = %q", got, want)
	}
}

// sandbox copies the files the checker reads into a temporary checkout, with
// a locustfile.py of its own (only its TARGETS list matters here).
func sandbox(t *testing.T) string {
	t.Helper()
	src := root(t)
	dir := t.TempDir()
	for _, rel := range []string{ComposeFile, EnvFile, "requirements.txt", "go.mod",
		"targets/Dockerfile", "boomer/Dockerfile"} {
		b, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, rel), string(b))
	}
	// The package the locustfile imports: the checker wants the folder.
	pkgs, err := filepath.Glob(filepath.Join(src, PackageDir, "*.py"))
	if err != nil || len(pkgs) == 0 {
		t.Fatalf("no %s/*.py: %v", PackageDir, err)
	}
	for _, p := range pkgs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, PackageDir, filepath.Base(p)), string(b))
	}
	quoted := make([]string, len(contractModels))
	for i, m := range contractModels {
		quoted[i] = fmt.Sprintf("%q", m)
	}
	writeFile(t, filepath.Join(dir, "locustfile.py"),
		"from locust import HttpUser\n\n# the models\nTARGETS = [\n    "+
			strings.Join(quoted, ",\n    ")+",  # the last\n]\n")
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSandboxCopyPasses(t *testing.T) {
	for _, p := range Check(sandbox(t), contractModels) {
		t.Error(p)
	}
}

// TestCheckerCatchesBreakage breaks one thing at a time in a copy of the
// setup and expects the checker to name it.
func TestCheckerCatchesBreakage(t *testing.T) {
	type edit struct{ file, old, new string }
	cases := []struct {
		name  string
		edits []edit
		want  []string
	}{
		{
			name: "a model without its service",
			edits: []edit{
				{ComposeFile, "  target-poll:\n    <<: *target", "  target-pol:\n    <<: *target"},
				{ComposeFile, "target-poll: {condition", "target-pol: {condition"},
			},
			want: []string{"service target-poll is missing", `bin/target has no model "pol"`},
		},
		{
			name:  "one target with more CPU",
			edits: []edit{{ComposeFile, "  target-epoll:\n    <<: *target\n", "  target-epoll:\n    <<: *target\n    cpus: 2\n"}},
			want:  []string{"target-epoll: limits differ", "cpus 2 is not TARGET_CPUS"},
		},
		{
			name:  "one target with more open files",
			edits: []edit{{ComposeFile, "  target-select:\n    <<: *target\n", "  target-select:\n    <<: *target\n    ulimits: {nofile: {soft: 65536, hard: 65536}}\n"}},
			want:  []string{"target-select: limits differ", "ulimits"},
		},
		{
			name:  "a limit not taken from .env",
			edits: []edit{{ComposeFile, "pids_limit: ${TARGET_PIDS:-4096}", "pids_limit: 99"}},
			want:  []string{"pids_limit 99 is not TARGET_PIDS"},
		},
		{
			name:  "a target with another command",
			edits: []edit{{ComposeFile, "command: [--model, busypoll,", "command: [--model, epoll,"}},
			want:  []string{"target-busypoll: command"},
		},
		{
			name:  "no health check",
			edits: []edit{{ComposeFile, "  target-thread:\n    <<: *target\n", "  target-thread:\n    <<: *target\n    healthcheck: {disable: true}\n"}},
			want:  []string{"target-thread: no health check"},
		},
		{
			name:  "master does not wait for a target",
			edits: []edit{{ComposeFile, "target-reactor: {condition: service_healthy}", "target-reactor: {condition: service_started}"}},
			want:  []string{"does not wait for target-reactor"},
		},
		{
			name:  "latest Locust",
			edits: []edit{{ComposeFile, "image: locustio/locust:2.47.0", "image: locustio/locust:latest"}},
			want:  []string{"want locustio/locust:", `tag "latest" is not a version`},
		},
		{
			name:  "untagged image",
			edits: []edit{{ComposeFile, "image: serverlab/boomer:dev", "image: serverlab/boomer"}},
			want:  []string{"service worker: image serverlab/boomer: no tag"},
		},
		{
			name:  "web UI on every interface",
			edits: []edit{{ComposeFile, `"${LOCUST_WEB_BIND:-127.0.0.1}:8089:8089"`, `"8089:8089"`}},
			want:  []string{"service master: port 8089 published on every interface"},
		},
		{
			name:  "web UI bind changed in .env",
			edits: []edit{{EnvFile, "LOCUST_WEB_BIND=127.0.0.1", "LOCUST_WEB_BIND=0.0.0.0"}},
			want:  []string{"port 8089 published on 0.0.0.0"},
		},
		{
			name: "master port published",
			edits: []edit{
				{ComposeFile, "      - \"${LOCUST_WEB_BIND:-127.0.0.1}:8089:8089\"\n", "      - \"${LOCUST_WEB_BIND:-127.0.0.1}:8089:8089\"\n      - \"127.0.0.1:5557:5557\"\n"},
				{ComposeFile, "    expose:\n      - \"5557\"\n", ""},
			},
			want: []string{"master port 5557 is published", "does not expose 5557"},
		},
		{
			name:  "writable locustfile",
			edits: []edit{{ComposeFile, "read_only: true", "read_only: false"}},
			want:  []string{"locustfile mount is writable"},
		},
		{
			name:  "locustfile not mounted",
			edits: []edit{{ComposeFile, "target: /mnt/locust/locustfile.py", "target: /mnt/locust/other.py"}},
			want:  []string{"no volume mounted at /mnt/locust/locustfile.py"},
		},
		{
			name:  "the locustfile's package not mounted",
			edits: []edit{{ComposeFile, "target: /mnt/locust/serverlab_locust", "target: /mnt/locust/lib"}},
			want:  []string{"no volume mounted at /mnt/locust/serverlab_locust"},
		},
		{
			name:  "the package mounted from elsewhere",
			edits: []edit{{ComposeFile, "source: ./serverlab_locust", "source: ./lab"}},
			want:  []string{"/mnt/locust/serverlab_locust is not a bind mount of serverlab_locust"},
		},
		{
			name:  "no admin URL for the Target tab",
			edits: []edit{{ComposeFile, "      TARGET_ADMIN_URL: http://target-{model}:9090\n", "      OTHER: x\n"}},
			want:  []string{"service master: no TARGET_ADMIN_URL"},
		},
		{
			name:  "admin URL on the site port",
			edits: []edit{{ComposeFile, "TARGET_ADMIN_URL: http://target-{model}:9090", "TARGET_ADMIN_URL: http://target-{model}:8080"}},
			want:  []string{`TARGET_ADMIN_URL for epoll uses port "8080", targets listen on 9090`},
		},
		{
			name:  "admin URL for one model only",
			edits: []edit{{ComposeFile, "TARGET_ADMIN_URL: http://target-{model}:9090", "TARGET_ADMIN_URL: http://target-epoll:9090"}},
			want:  []string{`TARGET_ADMIN_URL "http://target-epoll:9090" has no {model}`},
		},
		{
			name:  "target URL naming no service",
			edits: []edit{{ComposeFile, "http://target-{model}:8080", "http://targets-{model}:8080"}},
			want:  []string{"names targets-epoll, which is no service"},
		},
		{
			name:  "target URL on the admin port",
			edits: []edit{{ComposeFile, "http://target-{model}:8080", "http://target-{model}:9090"}},
			want:  []string{`uses port "9090"`},
		},
		{
			name:  "a worker that cannot scale",
			edits: []edit{{ComposeFile, "    image: serverlab/boomer:dev\n", "    image: serverlab/boomer:dev\n    container_name: worker\n"}},
			want:  []string{"container_name worker stops it from scaling"},
		},
		{
			name:  "lab started by up",
			edits: []edit{{ComposeFile, "    profiles: [headless]\n", ""}},
			want:  []string{"not in the headless profile"},
		},
		{
			name:  "lab stage missing",
			edits: []edit{{"boomer/Dockerfile", "AS lab", "AS lab2"}},
			want:  []string{"boomer/Dockerfile has no stage lab"},
		},
		{
			name:  "a model missing from the web UI",
			edits: []edit{{"locustfile.py", "\"reactor\",\n", ""}},
			want:  []string{"TARGETS is"},
		},
		{
			name:  "TARGETS not a literal list",
			edits: []edit{{"locustfile.py", "TARGETS = [", "TARGETS = sorted(["}},
			want:  []string{"no literal TARGETS"},
		},
		{
			name:  "final image as root",
			edits: []edit{{"targets/Dockerfile", "USER 65532:65532", "USER 0"}},
			want:  []string{"targets/Dockerfile: final stage target runs as root"},
		},
		{
			name:  "final image without USER",
			edits: []edit{{"boomer/Dockerfile", "USER 65532:65532\n", ""}},
			want:  []string{"boomer/Dockerfile: final stage worker has no USER"},
		},
		{
			name:  "USER by name",
			edits: []edit{{"boomer/Dockerfile", "USER 1000:1000", "USER locust"}},
			want:  []string{"final stage lab: USER locust is not numeric"},
		},
		{
			name:  "cgo on",
			edits: []edit{{"targets/Dockerfile", "ENV CGO_ENABLED=0", "ENV CGO_ENABLED=1"}},
			want:  []string{"does not build with CGO_ENABLED=0"},
		},
		{
			name:  "builder not pinned to a release",
			edits: []edit{{"boomer/Dockerfile", "FROM golang:1.26.8-bookworm", "FROM golang:1.26-bookworm"}},
			want:  []string{"want a full golang:X.Y.Z-DISTRO tag"},
		},
		{
			name:  "builder on another Go",
			edits: []edit{{"targets/Dockerfile", "FROM golang:1.26.8-bookworm", "FROM golang:1.25.3-bookworm"}},
			want:  []string{"go.mod wants Go 1.26"},
		},
		{
			name:  "untagged base",
			edits: []edit{{"targets/Dockerfile", "gcr.io/distroless/static-debian12:nonroot", "gcr.io/distroless/static-debian12"}},
			want:  []string{"FROM gcr.io/distroless/static-debian12: no tag"},
		},
		{
			name:  "invalid YAML",
			edits: []edit{{ComposeFile, "services:\n", "services:\n  - oops\n"}},
			want:  []string{"load docker-compose.yml"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := sandbox(t)
			for _, e := range tc.edits {
				path := filepath.Join(dir, e.file)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(b), e.old) {
					t.Fatalf("%s no longer contains %q: update this case", e.file, e.old)
				}
				writeFile(t, path, strings.Replace(string(b), e.old, e.new, 1))
			}
			problems := Check(dir, contractModels)
			all := strings.Join(problems, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("no problem mentions %q; got:\n%s", w, all)
				}
			}
		})
	}
}

func TestPythonTargets(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want []string
		err  bool
	}{
		{src: `TARGETS = ["a", 'b']`, want: []string{"a", "b"}},
		{src: "x = 1\nTARGETS: list[str] = [\n  \"a\",  # first\n  \"b\",\n]\n", want: []string{"a", "b"}},
		{src: `TARGETS = ("a",)`, want: []string{"a"}},
		{src: `TARGETS = ["a", NAME]`, err: true},
		{src: `  TARGETS = ["a"]`, err: true}, // not top level
		{src: `OTHER_TARGETS = ["a"]`, err: true},
	} {
		got, err := PythonTargets(tc.src)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("PythonTargets(%q) = %q, %v; want %q, error %v", tc.src, got, err, tc.want, tc.err)
		}
	}
}

func TestPinned(t *testing.T) {
	for ref, ok := range map[string]bool{
		"locustio/locust:2.47.0":                      true,
		"localhost:5000/serverlab/target:dev":         true,
		"golang:1.26.8-bookworm":                      true,
		"gcr.io/distroless/static-debian12@sha256:ab": true,
		"golang":                          false,
		"golang:latest":                   false,
		"localhost:5000/serverlab/target": false,
	} {
		if err := pinned(ref); (err == nil) != ok {
			t.Errorf("pinned(%q) = %v, want ok %v", ref, err, ok)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"256m": 256 << 20, "1g": 1 << 30, "64k": 64 << 10, "1000": 1000, "512MB": 512 << 20} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseBytes("lots"); err == nil {
		t.Error("parseBytes(lots): no error")
	}
}

// TestFallbacksMatchEnv: without .env (e.g. `docker compose -f` from another
// directory) the file's own ${VAR:-default} fallbacks give the same setup.
func TestFallbacksMatchEnv(t *testing.T) {
	dir := sandbox(t)
	with, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, EnvFile)); err != nil {
		t.Fatal(err)
	}
	without, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range with.Services {
		b, ok := without.Services[name]
		if !ok {
			t.Errorf("service %s: only with .env", name)
			continue
		}
		if d := limitsDiff(a, b); d != "" {
			t.Errorf("service %s: .env and fallbacks differ: %s", name, d)
		}
		if fmt.Sprint(a.Ports) != fmt.Sprint(b.Ports) || !slices.Equal(a.Command, b.Command) || a.User != b.User {
			t.Errorf("service %s: ports, command or user differ without .env", name)
		}
	}
}
