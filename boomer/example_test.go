package boomer_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"serverlab/boomer"
)

// Load that a declared class cannot express is written in Go: here each
// task times a TCP connect, recorded as a request Locust's master shows
// under "CONNECT". The worker runs it beside the master's declared classes
// (with boomer/declared's Serve, the Go classes go in its base).
func ExampleBoomer_Run() {
	connect := &boomer.UserClass{
		Name:   "ConnectUser",
		Weight: 1,
		Wait:   boomer.Between(100*time.Millisecond, 200*time.Millisecond),
		Tasks: []boomer.Task{{Name: "connect", Weight: 1, Fn: func(u *boomer.User) {
			start := time.Now()
			var d net.Dialer
			c, err := d.DialContext(u.Ctx, "tcp", "127.0.0.1:9")
			if err != nil {
				u.RecordFailure("CONNECT", "port 9", time.Since(start), err.Error())
				return
			}
			c.Close()
			u.RecordSuccess("CONNECT", "port 9", time.Since(start), 0)
		}}},
	}
	b := boomer.NewStandaloneBoomer(boomer.Options{}, 2, 10, 300*time.Millisecond)
	if err := b.Run(context.Background(), connect); err != nil {
		fmt.Println(err)
		return
	}
	requests, _ := b.Totals()
	fmt.Println(requests > 0)
	// Output: true
}
