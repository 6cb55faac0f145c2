package main

import (
	"time"

	"serverlab/boomer"
	"serverlab/boomer/httpuser"
)

// userState is what each user keeps in boomer.User.Data: its connection,
// and where outcomes go (the user itself, or the --run-tasks printer).
type userState struct {
	client *httpuser.Client
	rec    httpuser.Recorder
}

// get requests path on u's connection, recorded under the path as Locust
// names a request without name=.
func get(u *boomer.User, path string) {
	st := u.Data.(*userState)
	st.client.GET(st.rec, path, "")
}

// userClasses are locustfile.py's classes, with the same tasks, weights and
// waits, so that one master can drive Go and Python workers alike.
// newRecorder, when not nil, replaces the user as the recorder (dry runs).
// The master's --connect-timeout and --response-timeout, when it has them,
// win over the timeouts in opts.
func userClasses(opts httpuser.Options, newRecorder func(u *boomer.User) httpuser.Recorder) []*boomer.UserClass {
	onStart := func(u *boomer.User) error {
		o := opts
		o.ConnectTimeout = timeoutOption(u.Options, "connect_timeout", o.ConnectTimeout)
		o.ResponseTimeout = timeoutOption(u.Options, "response_timeout", o.ResponseTimeout)
		c, err := httpuser.New(u.Ctx, u.Host, o)
		if err != nil {
			return err
		}
		st := &userState{client: c, rec: u}
		if newRecorder != nil {
			st.rec = newRecorder(u)
		}
		u.Data = st
		return nil
	}
	onStop := func(u *boomer.User) {
		if st, ok := u.Data.(*userState); ok {
			st.client.Close()
		}
	}
	class := func(name string, wait boomer.WaitTime, tasks ...boomer.Task) *boomer.UserClass {
		return &boomer.UserClass{Name: name, Weight: 1, Tasks: tasks, Wait: wait, OnStart: onStart, OnStop: onStop}
	}
	return []*boomer.UserClass{
		class("LabUser", boomer.Between(1*time.Second, 5*time.Second),
			boomer.Task{Name: "index", Weight: 1, Fn: func(u *boomer.User) { get(u, "/") }}),
		class("BrowserUser", boomer.Between(1*time.Second, 5*time.Second),
			boomer.Task{Name: "page", Weight: 1, Fn: func(u *boomer.User) {
				for _, p := range []string{"/", "/style.css", "/app.js", "/photo.jpg"} {
					if u.Ctx.Err() != nil {
						return
					}
					get(u, p)
				}
			}}),
		class("HammerUser", nil,
			boomer.Task{Name: "index", Weight: 1, Fn: func(u *boomer.User) { get(u, "/") }}),
		class("SlowIOUser", boomer.Between(500*time.Millisecond, 1500*time.Millisecond),
			boomer.Task{Name: "delay", Weight: 1, Fn: func(u *boomer.User) { get(u, "/delay?ms=100") }}),
		class("CPUUser", boomer.Between(500*time.Millisecond, 1500*time.Millisecond),
			boomer.Task{Name: "cpu", Weight: 1, Fn: func(u *boomer.User) { get(u, "/cpu?n=1000") }}),
	}
}

func findClass(classes []*boomer.UserClass, name string) *boomer.UserClass {
	for _, c := range classes {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func classNames(classes []*boomer.UserClass) []string {
	names := make([]string, len(classes))
	for i, c := range classes {
		names[i] = c.Name
	}
	return names
}
