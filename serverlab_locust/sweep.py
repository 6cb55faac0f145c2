"""Step-load sweeps: a load shape that holds each user count for a steady
window once its ramp is done, and records what the master's own statistics
say about each window alone.

A locustfile makes one with `step_shape`:

    from serverlab_locust.sweep import step_shape
    Sweep = step_shape([10, 100, 1000], hold=30, spawn_rate=100)

The master drives the shape, so Go and Python workers follow it alike. With
--csv PREFIX it writes, as each window ends:

    PREFIX_steps.csv          one row per step: users, the window's start and
                              end (Unix seconds), requests, failures, RPS,
                              percentiles, and the load generators' CPU
    PREFIX_step_failures.csv  each step's failures by error text

The window's figures are differences of the master's cumulative statistics
at its start and end, so the ramp before it does not count. Workers report
every few seconds, so a window's edges are as sharp as that.

`rate_shape` makes the open model's sweep, whose steps are arrival rates:

    from serverlab_locust.sweep import rate_shape
    Sweep = rate_shape([1000, 10000], users=1000, hold=30, spawn_rate=500)

It spawns the users once, as a pool, then for each rate sends each Go
worker its share (RATE_MESSAGE, split as the master split the users),
lets the rate settle for SETTLE seconds and holds it for `hold`: the
step's window. The workers start requests at the rate whatever the
latency and record each request's time from when it fell due; once a
second they report how the schedule was kept (RATE_STATS_MESSAGE), and
the steps' rows say it: requests due, late (due while every user was
busy: the pool ran dry), queued at the window's end, the longest wait
for a free user, the users engaged. Python workers cannot hold a rate
(a Locust user waits for its answer), and say so in their log.
"""

import csv
import logging
import math
import time

import locust.runners
from locust import LoadTestShape, events
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import calculate_response_time_percentile

log = logging.getLogger("serverlab.sweep")

STEP_COLUMNS = [
    "Step", "Users", "Target Users", "Start", "End", "Requests", "Failures", "Requests/s",
    "Median Response Time", "95%", "99%", "Average Response Time", "Max Response Time",
    "Worker CPU %", "Worker CPU % Peak", "Master CPU %", "Workers",
    "Target Rate", "Due", "Late", "Backlog", "Max Lag", "Engaged Users",
]

# The open model's messages with the Go workers (boomer/cmd/boomer/openmodel.go).
RATE_MESSAGE = "serverlab_rate"
RATE_STATS_MESSAGE = "serverlab_rate_stats"

# Seconds a new rate runs before its window opens: the workers' stats of
# the previous rate arrive (they report every 3 s) and the pool settles.
SETTLE = 3.0

# A ramp that has not reached its user count after its planned time and this
# much more is measured anyway: the window then says how many users it had.
RAMP_SLACK = 30.0


def heartbeat_liveness(beats):
    """Lets the master go `beats` seconds without a worker's heartbeat
    before it declares the worker missing (Locust's own is 3: 4 to 5 s, a
    constant with no flag, read by both supported versions as the run goes).

    A sweep's last steps ramp thousands of users a second on a worker that
    has one core: its heartbeat waits behind their connections for a few
    seconds, and with Locust's limit the master ends the run as if the
    worker had died. The worker still logs every heartbeat 2 s late or
    more, with why, so a longer wait hides nothing.
    """
    locust.runners.HEARTBEAT_LIVENESS = beats


def plan(steps, spawn_rate):
    """Each step's planned ramp in seconds, from the previous user count."""
    out, prev = [], 0
    for u in steps:
        out.append(max(1.0, math.ceil(abs(u - prev) / spawn_rate)))
        prev = u
    return out


def planned_seconds(steps, hold, spawn_rate):
    """How long a sweep takes when every ramp keeps its plan."""
    return sum(plan(steps, spawn_rate)) + hold * len(steps)


class _Snapshot:
    def __init__(self, stats, when):
        total = stats.total
        self.when = when
        self.requests = total.num_requests
        self.failures = total.num_failures
        self.total_time = total.total_response_time
        self.times = dict(total.response_times)
        self.errors = {e.error: e.occurrences for e in stats.errors.values()}


def window(start, end):
    """The figures of the requests that ended between two snapshots."""
    times = {}
    for k, n in end.times.items():
        d = n - start.times.get(k, 0)
        if d > 0:
            times[k] = d
    requests = end.requests - start.requests
    secs = max(end.when - start.when, 1e-9)

    def pct(p):
        return calculate_response_time_percentile(times, requests, p) if requests > 0 else ""

    errors = {}
    for text, n in end.errors.items():
        d = n - start.errors.get(text, 0)
        if d > 0:
            errors[text] = d
    return {
        "requests": requests,
        "failures": end.failures - start.failures,
        "rps": requests / secs,
        "median": pct(0.5),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "avg": (end.total_time - start.total_time) / requests if requests > 0 else "",
        "max": max(times) if times else "",
        "errors": errors,
    }


class StepShape(LoadTestShape):
    """Ramps to each of `steps` users at `spawn_rate`, then holds the count
    for `hold` seconds: the step's window. Stops the test after the last."""

    abstract = True
    steps = []
    hold = 30.0
    spawn_rate = 100.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._ramps = plan(self.steps, self.spawn_rate)
        self._i = 0
        self._phase = "ramp"
        self._since = None
        self._start = None
        self._cpu = []
        self._files = None

    def reset_time(self):
        super().reset_time()
        self._i, self._phase, self._since = 0, "ramp", None

    def tick(self):
        if self._i >= len(self.steps):
            return None
        now = time.monotonic()
        if self._since is None:
            self._since = now
        target = self.steps[self._i]
        if self._phase == "ramp":
            users = self._users()
            reached = users is not None and users == target
            if reached or now - self._since >= self._ramps[self._i] + RAMP_SLACK:
                self._open_window(now)
        else:
            self._sample_cpu()
            if now - self._since >= self.hold:
                self._record(_Snapshot(self.runner.stats, time.time()))
                self._i += 1
                self._phase, self._since = "ramp", now
                if self._i >= len(self.steps):
                    self._close()
                    return None
                target = self.steps[self._i]
        return (target, self.spawn_rate)

    def _open_window(self, now):
        """The step's window starts: the master's statistics now are its
        baseline."""
        self._phase, self._since = "hold", now
        self._start = _Snapshot(self.runner.stats, time.time())
        self._cpu = []

    def _sample_cpu(self):
        try:
            self._cpu.append(self._worker_cpu())
        except Exception:  # a reading bug never stops the load test
            log.exception("serverlab sweep: reading the workers' CPU")

    def _users(self):
        try:
            return self.runner.user_count
        except Exception:  # a runner that cannot count yet: go by the plan
            return None

    def _workers(self):
        """The master's worker nodes; None on a standalone runner."""
        clients = getattr(self.runner, "clients", None)
        if clients is None:
            return None
        nodes = getattr(clients, "all", None)  # a property in 2.47.0, a method in 2.12.1
        if nodes is None:
            return list(clients.values())
        return list(nodes() if callable(nodes) else nodes)

    def _worker_cpu(self):
        """The busiest load generator's CPU % now, as its heartbeats last
        said: a worker's, or the runner's own when it runs the users."""
        workers = self._workers()
        if workers:
            return max((getattr(w, "cpu_usage", 0) or 0) for w in workers)
        return getattr(self.runner, "current_cpu_usage", 0) or 0

    def _record(self, end, extra=None):
        w = window(self._start, end)
        cpu = self._cpu or [0]
        workers = self._workers()
        row = {
            "Step": self._i + 1,
            "Users": self._users() if self._users() is not None else "",
            "Target Users": self.steps[self._i],
            "Start": f"{self._start.when:.3f}",
            "End": f"{end.when:.3f}",
            "Requests": w["requests"],
            "Failures": w["failures"],
            "Requests/s": f"{w['rps']:.2f}",
            "Median Response Time": w["median"],
            "95%": w["p95"],
            "99%": w["p99"],
            "Average Response Time": f"{w['avg']:.2f}" if w["avg"] != "" else "",
            "Max Response Time": w["max"],
            "Worker CPU %": f"{sum(cpu) / len(cpu):.1f}",
            "Worker CPU % Peak": f"{max(cpu):.1f}",
            "Master CPU %": f"{getattr(self.runner, 'current_cpu_usage', 0) or 0:.1f}",
            "Workers": len(workers) if workers is not None else 0,
        }
        for c in STEP_COLUMNS:
            row.setdefault(c, "")
        row.update(extra or {})
        log.info("serverlab sweep: step %d, %s users%s: %d requests, %d failures, %.1f/s, p95 %s ms",
                 row["Step"], row["Users"], f", {row['Target Rate']} req/s due" if row["Target Rate"] != "" else "",
                 w["requests"], w["failures"], w["rps"], w["p95"])
        files = self._open()
        if files is None:
            return
        steps, failures = files
        steps[1].writerow([row[c] for c in STEP_COLUMNS])
        steps[0].flush()
        for text, n in sorted(w["errors"].items(), key=lambda kv: -kv[1]):
            failures[1].writerow([row["Step"], row["Target Users"], text, n])
        failures[0].flush()

    def _open(self):
        if self._files is not None:
            return self._files
        options = getattr(self.runner.environment, "parsed_options", None)
        prefix = getattr(options, "csv_prefix", None)
        if not prefix:
            return None
        steps = open(f"{prefix}_steps.csv", "w", newline="", encoding="utf-8")
        failures = open(f"{prefix}_step_failures.csv", "w", newline="", encoding="utf-8")
        sw, fw = csv.writer(steps), csv.writer(failures)
        sw.writerow(STEP_COLUMNS)
        fw.writerow(["Step", "Target Users", "Error", "Occurrences"])
        self._files = ((steps, sw), (failures, fw))
        return self._files

    def _close(self):
        if self._files:
            for f, _ in self._files:
                f.close()
        self._files = None


def step_shape(steps, hold, spawn_rate):
    """A StepShape class for these steps (user counts, in order), each held
    `hold` seconds after a ramp at `spawn_rate` users a second."""
    steps = [int(u) for u in steps]
    if not steps or any(u < 1 for u in steps):
        raise ValueError(f"sweep steps {steps!r}: want user counts of at least 1")
    if not hold > 0 or not spawn_rate > 0:
        raise ValueError("sweep hold and spawn rate: want more than 0")
    return type("Sweep", (StepShape,), {"abstract": False, "steps": steps, "hold": float(hold),
                                        "spawn_rate": float(spawn_rate)})


class RateShape(StepShape):
    """Spawns `users` at `spawn_rate` once, as the pool, then holds each of
    `rates` (requests a second, all workers together) for `hold` seconds
    after SETTLE: an open model driven by the master. Stops after the last."""

    abstract = True
    rates = []
    users = 100

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._latest = {}  # worker id -> its last stats of the current step
        self._lag = 0.0
        self._counts0 = None

    def reset_time(self):
        super().reset_time()
        self._phase = "spawn"
        self._latest = {}

    def tick(self):
        if self._i >= len(self.rates):
            return None
        now = time.monotonic()
        if self._since is None:
            self._since = now
            self._phase = "spawn"
            # Before the spawn: the users wait for a rate instead of
            # making requests of their own (step 0).
            self._send_rate(0, step=0)
        if self._phase == "spawn":
            users = self._users()
            planned = max(1.0, math.ceil(self.users / self.spawn_rate))
            if (users is not None and users >= self.users) or now - self._since >= planned + RAMP_SLACK:
                self._settle(now)
        elif self._phase == "settle":
            if now - self._since >= SETTLE:
                self._open_window(now)
                self._counts0, self._lag = self._counts(), 0.0
        else:
            self._sample_cpu()
            if now - self._since >= self.hold:
                self._record(_Snapshot(self.runner.stats, time.time()), self._rate_row())
                self._i += 1
                if self._i >= len(self.rates):
                    self._send_rate(None)
                    self._close()
                    return None
                self._settle(now)
        return (self.users, self.spawn_rate)

    def _settle(self, now):
        self._phase, self._since = "settle", now
        self._latest = {}
        self._send_rate(self.rates[self._i])

    def _send_rate(self, rate, step=None):
        """Each worker's share of `rate`, in proportion to its users (as the
        master split them), else evenly; None ends the open model."""
        workers = [w for w in (self._workers() or []) if getattr(w, "state", "") != "missing"]
        if not workers:
            log.warning("serverlab sweep: no worker to send the rate %s to", rate)
            return
        if rate is None:
            for w in workers:
                self.runner.send_message(RATE_MESSAGE, {"open": False}, client_id=w.id)
            return
        counts = [getattr(w, "user_count", 0) or 0 for w in workers]
        total = sum(counts)
        for w, n in zip(workers, counts):
            share = rate * n / total if total > 0 else rate / len(workers)
            self.runner.send_message(RATE_MESSAGE, {"step": self._i + 1 if step is None else step, "rate": float(share),
                                                    "total_rate": float(rate), "workers": len(workers)},
                                     client_id=w.id)
        if rate:
            log.info("serverlab sweep: step %d, %s requests a second over %d workers", self._i + 1, rate, len(workers))

    def on_rate_stats(self, node_id, data):
        if not isinstance(data, dict) or data.get("step") != self._i + 1:
            return  # a previous step's, or another test's
        self._latest[node_id] = data
        if self._phase == "hold":
            self._lag = max(self._lag, float(data.get("max_lag_ms") or 0))

    def _counts(self):
        out = {"due": 0, "late": 0, "backlog": 0, "engaged": 0}
        for d in self._latest.values():
            for k in out:
                out[k] += int(d.get(k) or 0)
        return out

    def _rate_row(self):
        c0, c1 = self._counts0 or self._counts(), self._counts()
        return {
            "Target Users": self.users,
            "Target Rate": f"{self.rates[self._i]:g}",
            "Due": c1["due"] - c0["due"],
            "Late": c1["late"] - c0["late"],
            "Backlog": c1["backlog"],
            "Max Lag": f"{self._lag:.1f}",
            "Engaged Users": c1["engaged"],
        }


def rate_shape(rates, users, hold, spawn_rate):
    """A RateShape class for these arrival rates (requests a second, in
    order), a pool of `users` spawned at `spawn_rate`, each rate held `hold`
    seconds once settled."""
    rates = [float(r) for r in rates]
    if not rates or any(not (r > 0) or math.isinf(r) for r in rates):
        raise ValueError(f"sweep rates {rates!r}: want requests a second above 0")
    if int(users) < 1:
        raise ValueError(f"sweep pool {users!r}: want at least 1 user")
    if not hold > 0 or not spawn_rate > 0:
        raise ValueError("sweep hold and spawn rate: want more than 0")
    return type("Sweep", (RateShape,), {"abstract": False, "rates": rates, "users": int(users),
                                        "steps": [int(users)] * len(rates), "hold": float(hold),
                                        "spawn_rate": float(spawn_rate)})


@events.init.add_listener
def _open_model_messages(environment, **_kwargs):
    runner = environment.runner
    if isinstance(runner, MasterRunner):

        def on_stats(environment, msg, **_kw):
            shape = environment.shape_class
            if isinstance(shape, RateShape):
                shape.on_rate_stats(msg.node_id, msg.data)

        runner.register_message(RATE_STATS_MESSAGE, on_stats)
    elif isinstance(runner, WorkerRunner):
        warned = []

        def on_rate(environment, msg, **_kw):
            if not warned:
                warned.append(True)
                log.error("serverlab: this Python worker cannot hold an arrival rate (a Locust user waits "
                          "for its answer before its next request): run Go workers (bin/boomer) for a rate sweep")

        runner.register_message(RATE_MESSAGE, on_rate)
