package boomer

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// User is one simulated user. A user runs its tasks one at a time and owns
// its state (for example an HTTP connection in Data), so tasks need no
// locking. After a wait its tasks go on on a fresh goroutine: a waiting
// user holds none.
type User struct {
	Class string
	ID    int
	// Host is the resolved target base URL, e.g. http://127.0.0.1:8080.
	Host string
	// Ctx is cancelled when the user is stopped: at once if it is in a
	// task (which it interrupts), else after its OnStop, which can still
	// make requests with it, as a Locust user's on_stop can.
	Ctx context.Context
	// Data is the class's per-user state, usually set by OnStart.
	Data any
	// Options are the master's parsed_options of the test that started
	// this user (the locustfile's options, such as target); nil without a
	// master.
	Options map[string]any
	// KeepTasks, when not nil, are the tasks of the class's TaskNames the
	// web UI's class editor kept for users started after the edit.
	KeepTasks []string

	stats   *shard // nil: records go to the running Boomer, if any
	onError func(exception)
	// due is when the task running now fell due, in an open model; zero
	// otherwise, and once its first request is recorded.
	due time.Time
}

// ReportError reports an error of this user to the master as a Python
// user's exception is reported (the web UI's Exceptions tab); standalone,
// it is logged once per distinct message.
func (u *User) ReportError(msg string) {
	if u.onError != nil {
		u.onError(exception{Msg: msg})
	}
}

// RecordSuccess records one successful request made by this user.
func (u *User) RecordSuccess(method, name string, elapsed time.Duration, contentLength int64) {
	u.stats.success(method, name, u.sinceDue(elapsed), contentLength)
}

// RecordFailure records one failed request made by this user; err is the
// error text the master groups failures by.
func (u *User) RecordFailure(method, name string, elapsed time.Duration, err string) {
	u.stats.failure(method, name, u.sinceDue(elapsed), err)
}

// Task is one weighted unit of work of a user class.
type Task struct {
	Name   string
	Weight int
	Fn     func(u *User)
}

// WaitTime returns how long a user sleeps after a task that started at
// taskStarted.
type WaitTime func(u *User, taskStarted time.Time) time.Duration

// Constant waits d after every task.
func Constant(d time.Duration) WaitTime {
	return func(*User, time.Time) time.Duration { return d }
}

// Between waits a uniformly random time in [min, max] after every task.
func Between(min, max time.Duration) WaitTime {
	if max < min {
		min, max = max, min
	}
	return func(*User, time.Time) time.Duration {
		if max == min {
			return min
		}
		return min + time.Duration(rand.Int64N(int64(max-min)+1))
	}
}

// ConstantPacing makes each task start d after the previous one started
// (as long as tasks take less than d).
func ConstantPacing(d time.Duration) WaitTime {
	return func(_ *User, started time.Time) time.Duration {
		left := d - time.Since(started)
		if left < 0 {
			return 0
		}
		return left
	}
}

// ConstantThroughput makes each user run at most perSecond tasks a second.
func ConstantThroughput(perSecond float64) WaitTime {
	if perSecond <= 0 {
		return Constant(0)
	}
	return ConstantPacing(time.Duration(float64(time.Second) / perSecond))
}

// UserClass describes one kind of user, named as in locustfile.py.
type UserClass struct {
	Name string
	// Weight is used by standalone mode to split users between classes.
	Weight int
	// FixedCount, when above 0, is how many users of the class standalone
	// mode starts, before the weighted classes share the others (Locust's
	// fixed_count; a master splits the users itself).
	FixedCount int
	// Host is the class's own base URL (Locust's User.host): its users
	// get it when the run has no host.
	Host  string
	Tasks []Task
	// Wait is the pause after each task; nil means no pause.
	Wait WaitTime
	// OnStart runs once when a user starts. An error is reported to the
	// master as an exception and the user stops.
	OnStart func(u *User) error
	// OnStop runs once when a user whose OnStart succeeded stops.
	OnStop func(u *User)
	// TaskNames, when not nil, names the tasks a class picks among itself
	// (a declared class, whose one Task runs them): the web UI's class
	// editor chooses among these, and its choice reaches each user started
	// after it as User.KeepTasks.
	TaskNames []string

	keep []string // the class editor's choice among TaskNames
}

// Options configure a Boomer. The zero value talks to a master on
// 127.0.0.1:5557 with no rate limit.
type Options struct {
	MasterHost string
	MasterPort int
	// MaxRPS caps requests per second across all users (a token bucket
	// taken by each task run); 0 means unlimited.
	MaxRPS int64
	// ResolveHost turns the host of a spawn message (may be "") and the
	// master's parsed_options into the base URL users get in User.Host.
	// nil uses spawnHost as is.
	ResolveHost func(spawnHost string, parsedOptions map[string]any) (string, error)
	// Logger receives connection and lifecycle events (each reconnection
	// attempt, user errors in standalone mode); nil discards them.
	Logger *slog.Logger

	// HeartbeatTimeout is how long without a heartbeat from the master
	// before reconnecting; 0 means 10s. Masters older than 2.13 send no
	// heartbeats; with them only a broken connection triggers a reconnect.
	HeartbeatTimeout time.Duration
	// MasterGoneTimeout is how long the master may stay away before the
	// running users are stopped (reconnection attempts go on); 0 means 60s.
	MasterGoneTimeout time.Duration
	// ReportInterval is the stats reporting period; 0 means 3s as Locust.
	ReportInterval time.Duration
	// AwaitClasses, when more than 0, makes the master's spawn and stop
	// messages wait after each (re)connection until SetClasses gives the
	// classes (typically sent by the master on request from the
	// OnConnected hook), or for this long at most. Run may then be given
	// no classes.
	AwaitClasses time.Duration
	// Ports is how many connections the users can hold to one target
	// address at once: the ephemeral ports of the addresses they dial
	// from. Asking for more users is warned about before they start; 0:
	// not checked.
	Ports int
}
