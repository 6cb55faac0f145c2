package declared

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"

	"serverlab/boomer"
	"serverlab/boomer/httpuser"
)

// Options are what the classes' users get besides the spec.
type Options struct {
	// HTTP are the client's options; the master's --connect-timeout and
	// --response-timeout, when it sends them, win over its timeouts.
	HTTP httpuser.Options
	// Recorder, when not nil, receives every outcome instead of the user
	// (dry runs).
	Recorder func(u *boomer.User) httpuser.Recorder
}

// UserClasses turns the spec's classes into boomer's; a class that does not
// check out is left out and named in the returned map with the reason,
// as are the spec's own unsupported classes.
func (s *Spec) UserClasses(opts Options) ([]*boomer.UserClass, map[string]string) {
	unsupported := map[string]string{}
	for name, why := range s.Unsupported {
		unsupported[name] = why
	}
	var out []*boomer.UserClass
	for i := range s.Classes {
		c := &s.Classes[i]
		if err := c.Check(); err != nil {
			unsupported[c.Name] = err.Error()
			continue
		}
		out = append(out, compileClass(c, opts).userClass())
	}
	return out, unsupported
}

// class is a declared class ready to run: its requests compiled once, so
// that a user whose requests have no placeholders shares them and makes
// each request with no allocation more than the client's GET.
type class struct {
	spec    *Class
	opts    Options
	onStart []compiled
	onStop  []compiled
	tasks   [][]compiled
	weights []int
	tags    [][]string
	names   []string
	counter map[string]*atomic.Int64
	// templated: some request needs the user's values.
	templated bool

	mu      sync.Mutex
	pickers map[string]*picker // by the tags that filtered them
}

// compiled is a request as httpuser takes it; tmpl keeps the declaration
// when the user's values must fill it.
type compiled struct {
	req  httpuser.Request
	tmpl *Request
}

func compileClass(c *Class, opts Options) *class {
	k := &class{spec: c, opts: opts, pickers: map[string]*picker{}, counter: map[string]*atomic.Int64{}}
	for name, v := range c.Values {
		if v.Kind == "counter" {
			n := new(atomic.Int64)
			n.Store(v.Start)
			k.counter[name] = n
		}
	}
	compile := func(rs []Request) []compiled {
		out := make([]compiled, len(rs))
		for i := range rs {
			out[i] = compiled{req: rs[i].render(nil)}
			if rs[i].templated(c.Values) {
				out[i].tmpl = &rs[i]
				k.templated = true
			}
		}
		return out
	}
	k.onStart, k.onStop = compile(c.OnStart), compile(c.OnStop)
	for _, t := range c.Tasks {
		if t.Weight == 0 {
			continue // Locust repeats a task weight times: never
		}
		k.tasks = append(k.tasks, compile(t.Requests))
		k.weights = append(k.weights, t.Weight)
		k.tags = append(k.tags, t.Tags)
		k.names = append(k.names, t.Name)
	}
	return k
}

// userClass is k as boomer runs it: one task, which picks the declared
// task each time, among those the master's tags leave.
func (k *class) userClass() *boomer.UserClass {
	return &boomer.UserClass{
		Name:       k.spec.Name,
		Weight:     k.spec.Weight,
		FixedCount: k.spec.FixedCount,
		Host:       k.spec.Host,
		Wait:       k.spec.Wait.waitTime(),
		OnStart:    k.start,
		OnStop:     k.stop,
		Tasks:      []boomer.Task{{Name: k.spec.Name, Weight: 1, Fn: k.task}},
		// The web UI's class editor picks among the declared tasks.
		TaskNames: slices.Clone(k.names),
	}
}

// user is one user's state, in boomer.User.Data.
type user struct {
	client  *httpuser.Client
	rec     httpuser.Recorder
	onStart []compiled
	onStop  []compiled
	tasks   [][]compiled
	pick    *picker
}

func (k *class) start(u *boomer.User) error {
	o := k.opts.HTTP
	o.ConnectTimeout = TimeoutOption(u.Options, "connect_timeout", o.ConnectTimeout)
	o.ResponseTimeout = TimeoutOption(u.Options, "response_timeout", o.ResponseTimeout)
	c, err := httpuser.New(u.Ctx, u.Host, o)
	if err != nil {
		return err
	}
	st := &user{client: c, rec: u, onStart: k.onStart, onStop: k.onStop, tasks: k.tasks, pick: k.picker(u.Options, u.KeepTasks)}
	if k.opts.Recorder != nil {
		st.rec = k.opts.Recorder(u)
	}
	if k.templated {
		vals := k.draw()
		fill := func(cs []compiled) []compiled {
			out := slices.Clone(cs)
			for i := range out {
				if out[i].tmpl != nil {
					out[i].req = out[i].tmpl.render(vals)
				}
			}
			return out
		}
		st.onStart, st.onStop = fill(k.onStart), fill(k.onStop)
		st.tasks = make([][]compiled, len(k.tasks))
		for i, t := range k.tasks {
			st.tasks[i] = fill(t)
		}
	}
	u.Data = st
	st.run(u, st.onStart)
	return nil
}

func (k *class) stop(u *boomer.User) {
	st, ok := u.Data.(*user)
	if !ok {
		return
	}
	st.run(u, st.onStop)
	st.client.Close()
}

// task runs on every turn of every user, the deepest frames of a request
// below it: it stays small, since each turn's goroutine grows its stack to
// what the request needs, a copy each time it doubles.
func (k *class) task(u *boomer.User) {
	st := u.Data.(*user)
	if st.pick.total == 0 {
		k.noTasks(u)
		return
	}
	st.run(u, st.tasks[st.pick.next()])
}

// noTasks is what Locust raises for a class whose tasks the tags removed,
// at each turn of the user; a Go user does it once a second at most.
//
//go:noinline
func (k *class) noTasks(u *boomer.User) {
	u.ReportError(fmt.Sprintf("No tasks defined on %s. Use the @task decorator or set the 'tasks' attribute of the User (or mark it as abstract = True if you only intend to subclass it)", k.spec.Name))
	t := time.NewTimer(time.Second)
	select {
	case <-u.Ctx.Done():
	case <-t.C:
	}
	t.Stop()
}

func (st *user) run(u *boomer.User, reqs []compiled) {
	for i := range reqs {
		// A stopped user's client refuses requests anyway; checking
		// between them keeps a sequence from trying each one.
		if i > 0 && u.Ctx.Err() != nil {
			return
		}
		st.client.Do(st.rec, &reqs[i].req)
	}
}

// draw gives a new user its values.
func (k *class) draw() map[string]string {
	vals := make(map[string]string, len(k.spec.Values))
	for name, v := range k.spec.Values {
		switch v.Kind {
		case "counter":
			step := v.Step
			n := k.counter[name].Add(step) - step
			vals[name] = strconv.FormatInt(n, 10)
		case "choice":
			vals[name] = v.Items[rand.IntN(len(v.Items))]
		}
	}
	return vals
}

// picker chooses a task index by weight among those the tags left.
type picker struct {
	idx   []int
	cum   []int
	total int
}

func (p *picker) next() int {
	if len(p.idx) == 1 {
		return p.idx[0]
	}
	n := rand.IntN(p.total)
	i, _ := slices.BinarySearch(p.cum, n+1)
	return p.idx[i]
}

// picker returns the tasks the master's --tags and --exclude-tags leave,
// filtered as Locust's filter_tasks_by_tags does: with tags, a task
// stays when it has one of them; with exclude_tags, when it has none of
// those.
func (k *class) picker(options map[string]any, keep []string) *picker {
	tags, hasTags := stringList(options["tags"])
	excl, hasExcl := stringList(options["exclude_tags"])
	key := fmt.Sprint(hasTags, tags, hasExcl, excl, keep == nil, keep)
	k.mu.Lock()
	defer k.mu.Unlock()
	if p := k.pickers[key]; p != nil {
		return p
	}
	p := &picker{}
	for i, w := range k.weights {
		pass := true
		if hasTags {
			pass = pass && intersects(k.tags[i], tags)
		}
		if hasExcl {
			pass = pass && !intersects(k.tags[i], excl)
		}
		if keep != nil {
			pass = pass && slices.Contains(keep, k.names[i])
		}
		if pass {
			p.total += w
			p.idx = append(p.idx, i)
			p.cum = append(p.cum, p.total)
		}
	}
	k.pickers[key] = p
	return p
}

// stringList reads a list option; a missing or None option is no list,
// as Locust treats tags=None (an empty list is a list: it matches nothing).
func stringList(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out, true
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func (w Wait) waitTime() boomer.WaitTime {
	sec := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	switch w.Kind {
	case "between":
		if w.Min == 0 && w.Max == 0 {
			return nil
		}
		return boomer.Between(sec(w.Min), sec(w.Max))
	case "pacing":
		return boomer.ConstantPacing(sec(w.Seconds))
	}
	if w.Seconds == 0 {
		return nil // no pause: the user yields after each task all the same
	}
	return boomer.Constant(sec(w.Seconds))
}

// templated says whether any part of r names one of vals.
func (r *Request) templated(vals map[string]Value) bool {
	has := func(s string) bool {
		for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
			if _, ok := vals[m[1]]; ok {
				return true
			}
		}
		return false
	}
	if has(r.Path) || (r.Body != nil && has(*r.Body)) {
		return true
	}
	for _, p := range r.Query {
		if has(p[0]) || has(p[1]) {
			return true
		}
	}
	for _, h := range r.Headers {
		if has(h[0]) || has(h[1]) {
			return true
		}
	}
	return false
}

// render makes the request with vals filled in (nil: as written).
func (r *Request) render(vals map[string]string) httpuser.Request {
	out := httpuser.Request{Method: r.Method, Expect: r.Expect}
	if r.Named {
		out.Name = r.Name
	}
	path := fill(r.Path, vals, false)
	if len(r.Query) > 0 {
		var q strings.Builder
		for i, p := range r.Query {
			if i > 0 {
				q.WriteByte('&')
			}
			// Python's urlencode: quote_plus on each side.
			q.WriteString(url.QueryEscape(fill(p[0], vals, false)))
			q.WriteByte('=')
			q.WriteString(url.QueryEscape(fill(p[1], vals, false)))
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + q.String()
	}
	out.Path = path
	hasType := false
	for _, h := range r.Headers {
		out.Header = append(out.Header, [2]string{fill(h[0], vals, false), fill(h[1], vals, false)})
		hasType = hasType || strings.EqualFold(h[0], "Content-Type")
	}
	if r.JSON && !hasType {
		// What requests sets for json=.
		out.Header = append(out.Header, [2]string{"Content-Type", "application/json"})
	}
	switch {
	case r.Body != nil:
		out.Body = []byte(fill(*r.Body, vals, r.JSON))
	case r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH":
		out.Body = []byte{} // requests sends Content-Length: 0
	}
	return out
}

// fill replaces each {name} of vals in s; inJSON escapes the value as
// Python's json.dumps writes a string's content (ASCII only).
func fill(s string, vals map[string]string, inJSON bool) string {
	if vals == nil || !strings.Contains(s, "{") {
		return s
	}
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		v, ok := vals[m[1:len(m)-1]]
		if !ok {
			return m
		}
		if inJSON {
			return jsonContent(v)
		}
		return v
	})
}

// jsonContent is v as it appears between the quotes of json.dumps(v)
// with Python's defaults (ensure_ascii).
func jsonContent(v string) string {
	var b strings.Builder
	for _, r := range v {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r > 0x7f && r <= 0xffff):
			fmt.Fprintf(&b, `\u%04x`, r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TimeoutOption reads one of the master's timeout options (seconds, as
// the locustfile's parser gives them), or returns def when the master has
// none or an unusable one.
func TimeoutOption(parsed map[string]any, key string, def time.Duration) time.Duration {
	var v float64
	switch x := parsed[key].(type) {
	case float64:
		v = x
	case float32:
		v = float64(x)
	case int64:
		v = float64(x)
	case int:
		v = float64(x)
	case uint64:
		v = float64(x)
	default:
		return def
	}
	if v < 0 || math.IsNaN(v) || v > maxTimeout.Seconds() {
		return def
	}
	return time.Duration(v * float64(time.Second))
}

// maxTimeout keeps a timeout within what a time.Duration holds.
const maxTimeout = 24 * time.Hour

// RunEach runs each task of the class named once, as one user of it,
// against host: on_start, the tasks in order (before names each first),
// on_stop. Outcomes go to rec.
func (s *Spec) RunEach(ctx context.Context, name, host string, opts Options, rec httpuser.Recorder, before func(task string)) error {
	i := slices.IndexFunc(s.Classes, func(c Class) bool { return c.Name == name })
	if i < 0 {
		if why, ok := s.Unsupported[name]; ok {
			return fmt.Errorf("cannot run on a Go worker: %s", why)
		}
		return errors.New("no such user class in the locustfile")
	}
	c := &s.Classes[i]
	if err := c.Check(); err != nil {
		return fmt.Errorf("cannot run on a Go worker: %w", err)
	}
	opts.Recorder = func(*boomer.User) httpuser.Recorder { return rec }
	k := compileClass(c, opts)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	u := &boomer.User{Class: c.Name, ID: 1, Host: host, Ctx: ctx}
	if err := k.start(u); err != nil {
		return err
	}
	st := u.Data.(*user)
	for j, t := range st.tasks {
		before(k.names[j])
		st.run(u, t)
	}
	k.stop(u)
	return nil
}
