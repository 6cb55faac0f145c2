package boomer

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The class editor's tasks and host apply to the users started after it;
// a class or task list the worker cannot apply is refused in one line.
func TestClassEditAppliesToNewUsers(t *testing.T) {
	var a, b atomic.Int64
	hosts := make(chan string, 4)
	c := &UserClass{Name: "C",
		OnStart: func(u *User) error { hosts <- u.Host; return nil },
		Tasks: []Task{
			{Name: "a", Fn: func(u *User) { a.Add(1); <-u.Ctx.Done() }},
			{Name: "b", Fn: func(u *User) { b.Add(1); <-u.Ctx.Done() }},
		}}
	p, _ := newTestPool(t, c)
	if err := p.edit(map[string]any{"user_class_name": "C", "host": " http://edited ", "tasks": []any{"b", "nope"}}); err != nil {
		t.Fatal(err)
	}
	if h := p.classHost("C"); h != "http://edited" {
		t.Errorf("class host %q", h)
	}
	p.reconcile(map[string]int64{"C": 2}, func(class string) string { return p.classHost(class) }, 0)
	for range 2 {
		if h := <-hosts; h != "http://edited" {
			t.Errorf("a user started with host %q", h)
		}
	}
	for end := time.Now().Add(5 * time.Second); b.Load() < 2 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	if a.Load() != 0 || b.Load() != 2 {
		t.Errorf("tasks run: a %d, b %d; want only b", a.Load(), b.Load())
	}
	for _, bad := range []map[string]any{
		{"user_class_name": "Nope", "host": "http://x"},
		{"user_class_name": "C", "tasks": []any{"nope"}},
	} {
		err := p.edit(bad)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("edit %v: %v, want a one-line error", bad, err)
		}
	}
}
