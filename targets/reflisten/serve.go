package reflisten

import (
	"context"
	"errors"

	"serverlab/targets/server"
)

// Library is what a reference's library server offers to be run and
// stopped: net/http's and fasthttp's servers, seen alike.
type Library struct {
	Serve    func() error                    // serves until shut down or closed
	Shutdown func(ctx context.Context) error // drains, giving up when ctx ends
	// Overdue runs when the drain outlasted the shutdown timeout and says
	// what became of the connections left; wait is whether Serve still
	// returns (after a Close), so that its error is worth waiting for.
	Overdue func() (what string, wait bool)
	Closed  error // what Serve returns once shut down: not a failure
}

// Run serves with lib until the target is told to stop, then drains for at
// most the shutdown timeout, as every model does.
func Run(env *server.Env, lib Library) error {
	served := make(chan error, 1)
	go func() { served <- lib.Serve() }()
	select {
	case err := <-served:
		return err
	case <-env.Done:
	}
	ctx, cancel := context.WithTimeout(context.Background(), env.ShutdownTimeout)
	defer cancel()
	if err := lib.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
		what, wait := lib.Overdue()
		env.Log.Printf("connections still busy after %v: %s", env.ShutdownTimeout, what)
		if !wait {
			return nil
		}
	}
	if err := <-served; err != nil && !errors.Is(err, lib.Closed) {
		return err
	}
	return nil
}
