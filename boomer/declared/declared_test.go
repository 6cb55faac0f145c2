package declared

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"serverlab/boomer"
	"serverlab/boomer/httpuser"
	"serverlab/internal/locusts"
	"serverlab/internal/testbin"
)

// record keeps every outcome.
type record struct {
	mu   sync.Mutex
	rows []string
}

func (r *record) RecordSuccess(method, name string, _ time.Duration, _ int64) {
	r.mu.Lock()
	r.rows = append(r.rows, method+" "+name+" ok")
	r.mu.Unlock()
}

func (r *record) RecordFailure(method, name string, _ time.Duration, err string) {
	r.mu.Lock()
	r.rows = append(r.rows, method+" "+name+" "+err)
	r.mu.Unlock()
}

// seen is what a server got: method, URI, content type and body.
type seen struct {
	mu   sync.Mutex
	reqs []string
}

// list is what the server got so far.
func (s *seen) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

func server(t *testing.T) (*httptest.Server, *seen) {
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("X-User")+" "+string(b)))
		s.mu.Unlock()
		switch r.URL.Path {
		case "/gone", "/missing":
			http.NotFound(w, r)
		case "/broken":
			w.WriteHeader(500)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

const shop = `{"version": 1, "unsupported": {"PlainUser": "not a DeclaredUser: its tasks are Python code"},
 "classes": [{"name": "ShopUser", "weight": 2, "fixed_count": 1, "host": "http://own:1",
  "wait": {"kind": "between", "min": 0.5, "max": 1.5},
  "values": {"n": {"kind": "counter", "start": 7, "step": 3}, "item": {"kind": "choice", "items": ["t\"ea"]}},
  "on_start": [{"method": "POST", "path": "/login", "query": [], "headers": [], "body": "{\"user\": \"u{n}\", \"item\": \"{item}\"}", "json": true, "name": "/login", "expect": null}],
  "on_stop": [{"method": "DELETE", "path": "/login", "query": [], "headers": [], "body": null, "json": false, "name": "/login", "expect": null}],
  "tasks": [
   {"name": "/", "weight": 3, "tags": ["home"], "requests": [{"method": "GET", "path": "/", "query": [], "headers": [], "body": null, "json": false, "name": "/", "expect": null}]},
   {"name": "/item", "weight": 1, "tags": ["shop"], "requests": [
     {"method": "GET", "path": "/item/{n}", "query": [["q", "a b&{item}"]], "headers": [["X-User", "u{n}"]], "body": null, "json": false, "name": "/item", "named": true, "expect": null},
     {"method": "GET", "path": "/gone", "query": [], "headers": [], "body": null, "json": false, "name": "/gone", "expect": [200, 404]},
     {"method": "GET", "path": "/broken", "query": [], "headers": [], "body": null, "json": false, "name": "/broken", "expect": [200, 404]},
     {"method": "GET", "path": "/missing", "query": [], "headers": [], "body": null, "json": false, "name": "/missing", "expect": null}]}]}]}`

// Each task once: the values fill path, query, header and JSON body as
// Python fills them, expected statuses are successes, others the failure
// a catch_response block records.
func TestRunEachFillsValuesAndJudgesStatuses(t *testing.T) {
	spec, err := Parse([]byte(shop))
	if err != nil {
		t.Fatal(err)
	}
	srv, s := server(t)
	rec := &record{}
	var tasks []string
	if err := spec.RunEach(context.Background(), "ShopUser", srv.URL, Options{}, rec, func(n string) { tasks = append(tasks, n) }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tasks, ","); got != "/,/item" {
		t.Errorf("tasks %s", got)
	}
	want := []string{
		`POST /login application/json  {"user": "u7", "item": "t\"ea"}`,
		`GET /`,
		`GET /item/7?q=a+b%26t%22ea  u7`,
		`GET /gone`,
		`GET /broken`,
		`GET /missing`,
		`DELETE /login`,
	}
	if got := strings.Join(s.list(), "\n"); got != strings.Join(want, "\n") {
		t.Errorf("server saw\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	wantRec := []string{
		"POST /login ok", "GET / ok", "GET /item ok", "GET /gone ok",
		"GET /broken CatchResponseError('status 500, expected 200 or 404')",
		"GET /missing HTTPError('404 Client Error: Not Found for url: /missing')",
		"DELETE /login ok",
	}
	if got := strings.Join(rec.rows, "\n"); got != strings.Join(wantRec, "\n") {
		t.Errorf("recorded\n%s\nwant\n%s", got, strings.Join(wantRec, "\n"))
	}
	if err := spec.RunEach(context.Background(), "PlainUser", srv.URL, Options{}, rec, func(string) {}); err == nil ||
		!strings.Contains(err.Error(), "Python code") {
		t.Errorf("PlainUser: %v", err)
	}
}

// A class's weight, fixed_count and host reach boomer's class; counters
// give each user the next number; classes that do not check out are named
// with the reason, with the spec's own.
func TestUserClassesAndCounters(t *testing.T) {
	spec, err := Parse([]byte(shop))
	if err != nil {
		t.Fatal(err)
	}
	bad := spec.Classes[0]
	bad.Name, bad.Wait = "BadUser", Wait{Kind: "random"}
	spec.Classes = append(spec.Classes, bad)
	classes, unsupported := spec.UserClasses(Options{})
	if len(classes) != 1 || classes[0].Name != "ShopUser" || classes[0].Weight != 2 ||
		classes[0].FixedCount != 1 || classes[0].Host != "http://own:1" {
		t.Fatalf("classes %+v", classes)
	}
	if !strings.Contains(unsupported["BadUser"], `wait "random"`) || unsupported["PlainUser"] == "" {
		t.Errorf("unsupported %v", unsupported)
	}
	k := compileClass(&spec.Classes[0], Options{})
	var got []string
	for range 3 {
		got = append(got, k.draw()["n"])
	}
	if strings.Join(got, " ") != "7 10 13" {
		t.Errorf("counter gave %v", got)
	}
}

// Tags as Locust's filter_tasks_by_tags applies them.
func TestTags(t *testing.T) {
	spec, err := Parse([]byte(shop))
	if err != nil {
		t.Fatal(err)
	}
	k := compileClass(&spec.Classes[0], Options{})
	list := func(s ...string) []any {
		out := []any{}
		for _, x := range s {
			out = append(out, x)
		}
		return out
	}
	for _, tt := range []struct {
		opts map[string]any
		want int // total weight left
	}{
		{nil, 4},
		{map[string]any{"tags": nil, "exclude_tags": nil}, 4},
		{map[string]any{"tags": list("shop")}, 1},
		{map[string]any{"tags": list("home", "shop")}, 4},
		{map[string]any{"exclude_tags": list("home")}, 1},
		{map[string]any{"tags": list("home"), "exclude_tags": list("home")}, 0},
		{map[string]any{"tags": list()}, 0},
		{map[string]any{"tags": list("nothing")}, 0},
	} {
		if got := k.picker(tt.opts, nil).total; got != tt.want {
			t.Errorf("options %v: weight %d left, want %d", tt.opts, got, tt.want)
		}
	}
	// The web UI's class editor keeps some tasks by name, and the tags
	// apply to what it kept.
	if got := k.picker(nil, []string{"/item"}).total; got != 1 {
		t.Errorf("the class editor kept /item: weight %d left, want 1", got)
	}
	if got := k.picker(map[string]any{"exclude_tags": list("shop")}, []string{"/item"}).total; got != 0 {
		t.Errorf("the class editor kept /item, tagged shop, and shop is excluded: weight %d left, want 0", got)
	}
	if got := k.userClass().TaskNames; len(got) != 2 || got[1] != "/item" {
		t.Errorf("the class offers the editor %v, want its two declared tasks", got)
	}
}

// A class the tags leave without tasks reports Locust's exception and
// makes no request.
func TestNoTasksLeft(t *testing.T) {
	spec, err := Parse([]byte(shop))
	if err != nil {
		t.Fatal(err)
	}
	srv, s := server(t)
	b := boomer.NewStandaloneBoomer(boomer.Options{Logger: nil, ResolveHost: func(string, map[string]any) (string, error) { return srv.URL, nil }}, 1, 10, 300*time.Millisecond)
	classes, _ := spec.UserClasses(Options{})
	c := *classes[0]
	start := c.OnStart
	c.OnStart = func(u *boomer.User) error {
		u.Options = map[string]any{"tags": []any{"none"}}
		return start(u)
	}
	c.Wait = nil
	if err := b.Run(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	// The user's on_stop request may reach the server after Run returns:
	// it races the user's context, which closes the client's connection,
	// and a request the close cut short is still in the server's handler.
	// Closing the server waits for it.
	srv.Close()
	for _, r := range s.list() {
		if !strings.Contains(r, "/login") {
			t.Errorf("request %q with every task filtered out", r)
		}
	}
	if !strings.Contains(b.Summary(), "No tasks defined on ShopUser") {
		t.Errorf("summary has no exception:\n%s", b.Summary())
	}
}

// A declared request is made as GET makes it: no allocation more.
func TestDeclaredRequestAllocatesNoMoreThanGET(t *testing.T) {
	if testbin.RaceEnabled() {
		// Under the race detector sync.Pool drops a quarter of the
		// request buffers put back, at random, and each miss allocates
		// a buffer and regrows fasthttp's headers: a request's count
		// varies from 7 to 9 between two measurements of the same code.
		// The counts are compared in a build without it, where they are
		// the program's.
		testbin.WithoutRace(t, "TestDeclaredRequestAllocatesNoMoreThanGET")
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				for {
					line, err := r.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) == 2 {
						c.Write(resp)
					}
				}
			}()
		}
	}()
	host := "http://" + ln.Addr().String()
	spec, err := Parse([]byte(`{"version": 1, "classes": [{"name": "H", "weight": 1, "wait": {"kind": "constant", "seconds": 0},
		"tasks": [{"name": "/", "weight": 1, "requests": [{"method": "GET", "path": "/", "name": "/"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	rec := nopRecorder{}
	k := compileClass(&spec.Classes[0], Options{Recorder: func(*boomer.User) httpuser.Recorder { return rec }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u := &boomer.User{Class: "H", Host: host, Ctx: ctx}
	if err := k.start(u); err != nil {
		t.Fatal(err)
	}
	defer k.stop(u)
	c, err := httpuser.New(ctx, host, httpuser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k.task(u)
	c.GET(rec, "/", "")
	declared := testing.AllocsPerRun(200, func() { k.task(u) })
	get := testing.AllocsPerRun(200, func() { c.GET(rec, "/", "") })
	if declared > get {
		t.Errorf("a declared request allocates %.1f times, GET %.1f", declared, get)
	}
}

type nopRecorder struct{}

func (nopRecorder) RecordSuccess(string, string, time.Duration, int64) {}
func (nopRecorder) RecordFailure(string, string, time.Duration, string) {
}

// The locustfile's classes reach Go as declared, with the waits and
// requests written there.
func TestLocustfileClassesAreDeclared(t *testing.T) {
	l := testbin.Locust(t, locusts.Pinned)
	root := testbin.Root(t)
	cmd := exec.Command(l.Python, "-m", "serverlab_locust.declare", filepath.Join(root, "locustfile.py"))
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	spec, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range spec.Classes {
		var paths []string
		for _, task := range c.Tasks {
			for _, r := range task.Requests {
				paths = append(paths, r.Method+" "+r.Path)
			}
		}
		got[c.Name] = c.Wait.Kind + " " + strings.Join(paths, ",")
	}
	want := map[string]string{
		"LabUser":     "between GET /",
		"BrowserUser": "between GET /,GET /style.css,GET /app.js,GET /photo.jpg",
		"HammerUser":  "constant GET /",
		"SlowIOUser":  "between GET /delay?ms=100",
		"CPUUser":     "between GET /cpu?n=1000",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %q, want %q", name, got[name], w)
		}
	}
	if len(spec.Unsupported) != 0 || len(got) != len(want) {
		t.Errorf("classes %v, unsupported %v", got, spec.Unsupported)
	}
}
