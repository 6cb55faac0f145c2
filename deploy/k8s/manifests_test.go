// Package k8s holds the Kubernetes manifests (a kustomize base); its test
// decodes them strictly into the Kubernetes API types, so that a misspelt
// field fails here and not on a cluster, and checks them against the rest of
// the project.
package k8s

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"serverlab/internal/testbin"
)

// kustomization is the part of kustomize's Kustomization this base uses;
// decoded strictly, so a field it does not use is an error too.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors,omitempty"`
	} `json:"labels,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
}

// base is every object the kustomization lists, by kind and name.
type base struct {
	k           kustomization
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
}

// splitDocs cuts a multi-document YAML file at its --- lines.
func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), b...), []byte("\n---")) {
		if len(bytes.TrimSpace(stripComments(d))) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(append(out, l...), '\n')
		}
	}
	return out
}

// decode reads one object strictly into the API type its kind names.
func decode(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "v1 Service":
		obj = &corev1.Service{}
	default:
		return nil, fmt.Errorf("unexpected object %s %s", tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// load reads the kustomization in dir and every resource it lists.
func load(dir string) (*base, error) {
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	out := &base{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{}}
	if err := yaml.UnmarshalStrict(b, &out.k); err != nil {
		return nil, fmt.Errorf("kustomization.yaml: %w", err)
	}
	for _, res := range out.k.Resources {
		b, err := os.ReadFile(filepath.Join(dir, res))
		if err != nil {
			return nil, err
		}
		for i, doc := range splitDocs(b) {
			obj, err := decode(doc)
			if err != nil {
				return nil, fmt.Errorf("%s, object %d: %w", res, i+1, err)
			}
			switch o := obj.(type) {
			case *appsv1.Deployment:
				if out.deployments[o.Name] != nil {
					return nil, fmt.Errorf("%s: Deployment %s twice", res, o.Name)
				}
				out.deployments[o.Name] = o
			case *corev1.Service:
				if out.services[o.Name] != nil {
					return nil, fmt.Errorf("%s: Service %s twice", res, o.Name)
				}
				out.services[o.Name] = o
			}
		}
	}
	return out, nil
}

// check returns every problem with the base against the models.
func check(dir string, models []string) []string {
	var problems []string
	addf := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	b, err := load(dir)
	if err != nil {
		return []string{err.Error()}
	}
	if b.k.APIVersion != "kustomize.config.k8s.io/v1beta1" || b.k.Kind != "Kustomization" {
		addf("kustomization.yaml: %s %s", b.k.APIVersion, b.k.Kind)
	}

	// Every manifest in the folder is listed, and listed once.
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") && d.Name() != "kustomization.yaml" {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	for _, f := range files {
		if n := count(b.k.Resources, f); n != 1 {
			addf("kustomization.yaml: %s listed %d times, want once", f, n)
		}
	}

	// Every image is one the kustomization can point elsewhere.
	named := map[string]bool{}
	for _, im := range b.k.Images {
		named[im.Name] = true
	}
	for name, d := range b.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			repo, _, _ := strings.Cut(c.Image, ":")
			if !named[repo] {
				addf("Deployment %s: image %s is not in kustomization.yaml's images", name, c.Image)
			}
		}
		if d.Spec.Selector == nil || !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			addf("Deployment %s: selector does not match its pods' labels", name)
		}
	}
	// Each Service selects the pods of the Deployment of its name, on ports
	// those pods have.
	for name, s := range b.services {
		d := b.deployments[name]
		if d == nil {
			addf("Service %s: no Deployment %s", name, name)
			continue
		}
		if len(s.Spec.Selector) == 0 || !subset(s.Spec.Selector, d.Spec.Template.Labels) {
			addf("Service %s: selector %v does not select Deployment %s's pods", name, s.Spec.Selector, name)
		}
		for _, p := range s.Spec.Ports {
			if !hasPort(d, p.TargetPort.String()) {
				addf("Service %s: port %s's target %s is no container port of %s", name, p.Name, p.TargetPort.String(), name)
			}
		}
	}

	// The targets: one Deployment and Service per model, alike but for the
	// model; resources, limits, probes and security identical.
	var first *corev1.Container
	for _, m := range models {
		name := "target-" + m
		d, s := b.deployments[name], b.services[name]
		if d == nil || s == nil {
			addf("model %s: Deployment %v, Service %v; want both", m, d != nil, s != nil)
			continue
		}
		cs := d.Spec.Template.Spec.Containers
		if len(cs) != 1 {
			addf("Deployment %s: %d containers, want 1", name, len(cs))
			continue
		}
		c := cs[0]
		if v := flagValue(c.Args, "--model"); v != m {
			addf("Deployment %s: --model %q, want %s", name, v, m)
		}
		if flagValue(c.Args, "--max-fds") == "" {
			addf("Deployment %s: no --max-fds (a pod cannot set its open-files limit otherwise)", name)
		}
		lim, req := c.Resources.Limits, c.Resources.Requests
		if lim.Cpu().IsZero() || lim.Memory().IsZero() {
			addf("Deployment %s: no cpu and memory limits", name)
		}
		if !lim.Cpu().Equal(*req.Cpu()) || !lim.Memory().Equal(*req.Memory()) {
			addf("Deployment %s: requests %v differ from limits %v", name, req, lim)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz" {
			addf("Deployment %s: no readiness probe on /healthz", name)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
			addf("Deployment %s: want exactly 1 replica (one server per model)", name)
		}
		if first == nil {
			first = &c
			continue
		}
		for what, pair := range map[string][2]any{
			"image":           {first.Image, c.Image},
			"resources":       {first.Resources, c.Resources},
			"probes":          {[]any{first.ReadinessProbe, first.LivenessProbe}, []any{c.ReadinessProbe, c.LivenessProbe}},
			"ports":           {first.Ports, c.Ports},
			"securityContext": {first.SecurityContext, c.SecurityContext},
			"flags":           {withoutModel(first.Args), withoutModel(c.Args)},
		} {
			if !reflect.DeepEqual(pair[0], pair[1]) {
				addf("Deployment %s: %s differ from target-%s's: %v != %v", name, what, models[0], pair[1], pair[0])
			}
		}
	}
	for name := range b.deployments {
		if m, ok := strings.CutPrefix(name, "target-"); ok && !slices.Contains(models, m) {
			addf("Deployment %s: bin/target has no model %q", name, m)
		}
	}

	// The master and the workers find each other and the targets by the
	// Services' names.
	master, worker := b.deployments["master"], b.deployments["worker"]
	if master == nil || worker == nil || b.services["master"] == nil {
		addf("want Deployments master and worker and Service master")
		return problems
	}
	if !servicePort(b.services["master"], 5557) || !servicePort(b.services["master"], 8089) {
		addf("Service master: want ports 5557 (workers) and 8089 (web UI)")
	}
	mc, wc := master.Spec.Template.Spec.Containers[0], worker.Spec.Template.Spec.Containers[0]
	if v := flagValue(wc.Args, "--master-host"); b.services[v] == nil {
		addf("Deployment worker: --master-host %q is no Service", v)
	}
	modelURLs := func(what, tmpl string, port int32) {
		for _, m := range models {
			u, err := url.Parse(strings.ReplaceAll(tmpl, "{model}", m))
			if err != nil || !strings.Contains(tmpl, "{model}") {
				addf("%s %q: not a URL template with {model}", what, tmpl)
				return
			}
			s := b.services[u.Hostname()]
			if s == nil || !servicePort(s, port) || u.Port() != fmt.Sprint(port) {
				addf("%s for %s: %s is no Service port %d", what, m, u.Host, port)
			}
		}
	}
	modelURLs("worker --target-url", flagValue(wc.Args, "--target-url"), 8080)
	admin := ""
	for _, e := range mc.Env {
		if e.Name == "TARGET_ADMIN_URL" {
			admin = e.Value
		}
	}
	modelURLs("master TARGET_ADMIN_URL", admin, 9090)
	if !slices.Contains(mc.Args, "--master") || !slices.Contains(mc.Args, "--class-picker") {
		addf("Deployment master: args %q want --master --class-picker", mc.Args)
	}
	return problems
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if filepath.Clean(x) == filepath.Clean(s) {
			n++
		}
	}
	return n
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func hasPort(d *appsv1.Deployment, target string) bool {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == target || fmt.Sprint(p.ContainerPort) == target {
				return true
			}
		}
	}
	return false
}

func servicePort(s *corev1.Service, port int32) bool {
	for _, p := range s.Spec.Ports {
		if p.Port == port {
			return true
		}
	}
	return false
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func withoutModel(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == "--model" {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

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
		if f := strings.Fields(line); len(f) > 0 {
			models = append(models, f[0])
		}
	}
	return models
}

func TestManifests(t *testing.T) {
	models := listModels(t)
	if len(models) == 0 {
		t.Fatal("bin/target --list printed no models")
	}
	for _, p := range check(".", models) {
		t.Error(p)
	}
}

// copyBase copies the base into a temporary folder to break it there.
func copyBase(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCheckCatchesBreakage breaks one thing at a time in a copy and expects
// a problem naming it.
func TestCheckCatchesBreakage(t *testing.T) {
	models := []string{"single", "process", "prefork", "thread", "threadpool", "goroutine",
		"select", "poll", "busypoll", "epoll", "reactor", "fasthttp", "nethttp"}
	type edit struct{ file, old, new string }
	for _, tc := range []struct {
		name string
		edit edit
		want string
	}{
		{"a misspelt field", edit{"worker.yaml", "  replicas: 1", "  replica: 1"}, `worker.yaml, object 1: error unmarshaling JSON: while decoding JSON: json: unknown field "replica"`},
		{"a field at the wrong level", edit{"targets/poll.yaml", "    spec:\n      containers:", "    spec:\n      imagePullPolicy: Always\n      containers:"}, `targets/poll.yaml, object 1: error unmarshaling JSON: while decoding JSON: json: unknown field "imagePullPolicy"`},
		{"a wrong type", edit{"master.yaml", "containerPort: 8089", "containerPort: web"}, "master.yaml, object 1"},
		{"a file left out", edit{"kustomization.yaml", "  - targets/reactor.yaml\n", ""}, "targets/reactor.yaml listed 0 times"},
		{"a file listed twice", edit{"kustomization.yaml", "  - targets/reactor.yaml\n", "  - targets/reactor.yaml\n  - targets/reactor.yaml\n"}, "Deployment target-reactor twice"},
		{"a field kustomize has not", edit{"kustomization.yaml", "resources:", "resource:\n  - x\nresources:"}, `unknown field "resource"`},
		{"one target with more memory", edit{"targets/epoll.yaml", "            limits:\n              cpu: \"1\"\n              memory: 1Gi", "            limits:\n              cpu: \"1\"\n              memory: 2Gi"}, "Deployment target-epoll: requests"},
		{"one target with another cpu", edit{"targets/thread.yaml", "cpu: \"1\"", "cpu: \"2\""}, "Deployment target-thread: resources differ"},
		{"one target with more files", edit{"targets/select.yaml", `--max-fds, "1024"`, `--max-fds, "4096"`}, "Deployment target-select: flags differ"},
		{"a target without its service", edit{"targets/busypoll.yaml", "kind: Service\nmetadata:\n  name: target-busypoll", "kind: Service\nmetadata:\n  name: target-busypol"}, "model busypoll: Deployment true, Service false"},
		{"a service selecting nothing", edit{"targets/nethttp.yaml", "  selector:\n    app.kubernetes.io/component: target\n    serverlab/model: nethttp", "  selector:\n    app.kubernetes.io/component: target\n    serverlab/model: net"}, "Service target-nethttp: selector"},
		{"workers aiming at no service", edit{"worker.yaml", "http://target-{model}:8080", "http://targets-{model}:8080"}, "worker --target-url for epoll: targets-epoll:8080 is no Service port 8080"},
		{"the Target tab on the site port", edit{"master.yaml", "http://target-{model}:9090", "http://target-{model}:8080"}, "master TARGET_ADMIN_URL for epoll"},
		{"an image kustomize cannot retag", edit{"worker.yaml", "image: serverlab/boomer:dev", "image: other/boomer:dev"}, "image other/boomer:dev is not in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyBase(t)
			p := filepath.Join(dir, tc.edit.file)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tc.edit.old) {
				t.Fatalf("%s no longer contains %q: update this case", tc.edit.file, tc.edit.old)
			}
			if err := os.WriteFile(p, []byte(strings.Replace(string(b), tc.edit.old, tc.edit.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			all := strings.Join(check(dir, models), "\n")
			if !strings.Contains(all, tc.want) {
				t.Errorf("no problem mentions %q; got:\n%s", tc.want, all)
			}
		})
	}
}
