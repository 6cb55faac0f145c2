package nonblock

import (
	"time"

	"serverlab/targets/server"
)

// Linger is how long a connection we close keeps draining the client's
// input (see Limits.Linger), at most the read timeout.
const Linger = 2 * time.Second

// OptionsFor is the Options of a loop of env's model on the listener lfd.
func OptionsFor(env *server.Env, lfd int) Options {
	linger := Linger
	if env.ReadTimeout > 0 && env.ReadTimeout < linger {
		linger = env.ReadTimeout
	}
	return Options{
		Site:     env.Site,
		Stats:    env.Stats,
		Log:      env.Log,
		Listener: lfd,
		Done:     env.Done,
		Limits: Limits{
			Idle:   env.IdleTimeout,
			Read:   env.ReadTimeout,
			Write:  env.WriteTimeout,
			Linger: linger,
		},
		ShutdownTimeout: env.ShutdownTimeout,
		Shed:            env.Stats.Shed,
	}
}
