// Package declared runs the user classes a locustfile declares with
// serverlab_locust.declare: the master sends them as data (a Spec), and
// they run on boomer's users with the fast HTTP client, with the request
// names, weights, waits, tags and failure rules a Python worker applies to
// the same classes.
package declared

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
)

// Version is the spec version this package reads.
const Version = 1

// The custom messages between a master and a Go worker.
const (
	// MsgRequest asks the master for its declared classes:
	// {"version": 1}.
	MsgRequest = "serverlab_declared_request"
	// MsgSpec is the master's answer: a Spec.
	MsgSpec = "serverlab_declared"
	// MsgReport tells the master what the worker runs:
	// {"classes": [name...], "unsupported": {name: reason}}.
	MsgReport = "serverlab_declared_report"
)

// Spec is the declarations of one locustfile.
type Spec struct {
	Version int     `json:"version"`
	Classes []Class `json:"classes"`
	// Unsupported names the locustfile's classes that are Python code,
	// with the reason.
	Unsupported map[string]string `json:"unsupported"`
}

// Class is one declared user class.
type Class struct {
	Name       string `json:"name"`
	Weight     int    `json:"weight"`
	FixedCount int    `json:"fixed_count"`
	// Host is the class's own host attribute, "" for none: its users
	// get it when the run has no host.
	Host    string           `json:"host"`
	Wait    Wait             `json:"wait"`
	Values  map[string]Value `json:"values"`
	OnStart []Request        `json:"on_start"`
	OnStop  []Request        `json:"on_stop"`
	Tasks   []Task           `json:"tasks"`
}

// Wait is a wait_time: constant (Seconds), between (Min, Max) or pacing
// (Seconds; constant_throughput(r) is pacing 1/r).
type Wait struct {
	Kind    string  `json:"kind"`
	Seconds float64 `json:"seconds"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
}

// Value is a per-user value: a counter (Start, Step) or a choice (Items).
type Value struct {
	Kind  string   `json:"kind"`
	Start int64    `json:"start"`
	Step  int64    `json:"step"`
	Items []string `json:"items"`
}

// Task is one weighted task: its requests run in order.
type Task struct {
	Name     string    `json:"name"`
	Weight   int       `json:"weight"`
	Tags     []string  `json:"tags"`
	Requests []Request `json:"requests"`
}

// Request is one declared request. {name} in Path, Query, Headers and
// Body is the user's value of that name; in a JSON body it is filled as
// JSON string content.
type Request struct {
	Method  string      `json:"method"`
	Path    string      `json:"path"`
	Query   [][2]string `json:"query"`
	Headers [][2]string `json:"headers"`
	Body    *string     `json:"body"`
	JSON    bool        `json:"json"`
	Name    string      `json:"name"`
	// Named: the name is the declaration's own (or has values to fill);
	// otherwise the request is named by its URL, as requests names it.
	Named  bool  `json:"named"`
	Expect []int `json:"expect"`
}

// Parse reads a spec as the master's message carries it (decoded msgpack)
// or as JSON text ([]byte), and checks it.
func Parse(data any) (*Spec, error) {
	raw, ok := data.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			return nil, fmt.Errorf("declared classes: %w", err)
		}
	}
	var s Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("declared classes: %w", err)
	}
	if s.Version != Version {
		return nil, fmt.Errorf("declared classes: version %d, this worker reads version %d", s.Version, Version)
	}
	return &s, nil
}

// Check returns why c cannot run here, or nil.
func (c *Class) Check() error {
	if c.Name == "" {
		return errors.New("a class has no name")
	}
	if c.Weight < 0 || c.FixedCount < 0 {
		return errors.New("negative weight or fixed_count")
	}
	if err := c.Wait.check(); err != nil {
		return err
	}
	for name, v := range c.Values {
		if !placeholder.MatchString("{" + name + "}") {
			return fmt.Errorf("value name %q", name)
		}
		switch v.Kind {
		case "counter":
		case "choice":
			if len(v.Items) == 0 {
				return fmt.Errorf("value %s: a choice of nothing", name)
			}
		default:
			return fmt.Errorf("value %s: kind %q, want counter or choice", name, v.Kind)
		}
	}
	for i := range c.OnStart {
		if err := c.OnStart[i].check(); err != nil {
			return fmt.Errorf("on_start: %w", err)
		}
	}
	for i := range c.OnStop {
		if err := c.OnStop[i].check(); err != nil {
			return fmt.Errorf("on_stop: %w", err)
		}
	}
	for _, t := range c.Tasks {
		if t.Weight < 0 {
			return fmt.Errorf("task %s: negative weight", t.Name)
		}
		if len(t.Requests) == 0 {
			return fmt.Errorf("task %s: no requests", t.Name)
		}
		for i := range t.Requests {
			if err := t.Requests[i].check(); err != nil {
				return fmt.Errorf("task %s: %w", t.Name, err)
			}
		}
	}
	return nil
}

func (w Wait) check() error {
	ok := func(x float64) bool { return x >= 0 && x <= 86400 && !math.IsNaN(x) }
	switch w.Kind {
	case "constant", "pacing":
		if !ok(w.Seconds) {
			return fmt.Errorf("wait %s %v: want 0 to 86400 seconds", w.Kind, w.Seconds)
		}
	case "between":
		if !ok(w.Min) || !ok(w.Max) {
			return fmt.Errorf("wait between %v and %v: want 0 to 86400 seconds", w.Min, w.Max)
		}
	default:
		return fmt.Errorf("wait %q: want constant, between or pacing", w.Kind)
	}
	return nil
}

var methods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "HEAD": true, "OPTIONS": true}

func (r *Request) check() error {
	switch {
	case !methods[r.Method]:
		return fmt.Errorf("method %q", r.Method)
	case !strings.HasPrefix(r.Path, "/"):
		return fmt.Errorf("path %q: want one starting with /", r.Path)
	case strings.ContainsAny(r.Path, " \r\n"):
		return fmt.Errorf("path %q: spaces or line breaks", r.Path)
	case r.Name == "":
		return fmt.Errorf("%s %s: no name", r.Method, r.Path)
	}
	for _, h := range r.Headers {
		if h[0] == "" || strings.ContainsAny(h[0]+h[1], "\r\n") || strings.ContainsAny(h[0], " :") {
			return fmt.Errorf("header %q", h[0])
		}
	}
	for _, c := range r.Expect {
		if c < 100 || c > 999 {
			return fmt.Errorf("expected status %d", c)
		}
	}
	if r.Expect != nil && len(r.Expect) == 0 {
		return errors.New("expect: no status codes")
	}
	return nil
}

// placeholder is a {name} that a user's value fills.
var placeholder = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)
