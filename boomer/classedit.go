package boomer

import (
	"fmt"
	"slices"
	"strings"
)

// classEdit is what the web UI's class editor changed in one class
// (Locust's update_user_class message): its own host, and the tasks it
// keeps. Weight and fixed_count are the master's business: it splits the
// users.
type classEdit struct {
	host  string
	tasks []string // nil: every task
}

// edit applies an update_user_class message to the users started from
// now on, as a Python worker sets the class's attributes: a host of its
// own (used when the run's host is empty, as Locust gives the run's host
// to every class), and the tasks named.
func (p *pool) edit(settings map[string]any) error {
	name, _ := settings["user_class_name"].(string)
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.classes[name]
	if !ok {
		return fmt.Errorf("update_user_class for unknown user class %q: this Go worker has %s", name, strings.Join(p.names, ", "))
	}
	e := p.edits[name]
	if v, ok := settings["host"]; ok {
		h, _ := v.(string)
		e.host = strings.TrimSpace(h)
	}
	if v, ok := settings["tasks"]; ok {
		list, _ := v.([]any)
		var keep []string
		for _, t := range list {
			if s, ok := t.(string); ok && slices.Contains(taskNames(c), s) {
				keep = append(keep, s)
			}
		}
		if len(keep) == 0 {
			return fmt.Errorf("update_user_class %s: none of the tasks %v is one of its tasks (%s)", name, list, strings.Join(taskNames(c), ", "))
		}
		e.tasks = keep
	}
	if p.edits == nil {
		p.edits = map[string]classEdit{}
	}
	p.edits[name] = e
	return nil
}

// edited returns class name as edited, and its own host ("" if none).
// The caller holds p.mu.
func (p *pool) edited(name string) (*UserClass, string) {
	c := p.classes[name]
	e, ok := p.edits[name]
	if !ok || e.tasks == nil {
		return c, e.host
	}
	cc := *c
	if c.TaskNames != nil {
		cc.keep = e.tasks // the class picks among them itself
		return &cc, e.host
	}
	cc.Tasks = slices.DeleteFunc(slices.Clone(c.Tasks), func(t Task) bool { return !slices.Contains(e.tasks, t.Name) })
	return &cc, e.host
}

// classHost is class name's own host: the one the class editor gave it,
// else its Host, else "".
func (p *pool) classHost(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.edits[name].host; h != "" {
		return h
	}
	if c := p.classes[name]; c != nil {
		return c.Host
	}
	return ""
}

func taskNames(c *UserClass) []string {
	if c.TaskNames != nil {
		return c.TaskNames
	}
	out := make([]string, len(c.Tasks))
	for i, t := range c.Tasks {
		out[i] = t.Name
	}
	return out
}
