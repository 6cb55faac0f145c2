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
"""

import csv
import logging
import math
import time

from locust import LoadTestShape
from locust.stats import calculate_response_time_percentile

log = logging.getLogger("serverlab.sweep")

STEP_COLUMNS = [
    "Step", "Users", "Target Users", "Start", "End", "Requests", "Failures", "Requests/s",
    "Median Response Time", "95%", "99%", "Average Response Time", "Max Response Time",
    "Worker CPU %", "Worker CPU % Peak", "Master CPU %", "Workers",
]

# A ramp that has not reached its user count after its planned time and this
# much more is measured anyway: the window then says how many users it had.
RAMP_SLACK = 30.0


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
                self._phase, self._since = "hold", now
                self._start = _Snapshot(self.runner.stats, time.time())
                self._cpu = []
        else:
            try:
                self._cpu.append(self._worker_cpu())
            except Exception:  # a reading bug never stops the load test
                log.exception("serverlab sweep: reading the workers' CPU")
            if now - self._since >= self.hold:
                self._record(_Snapshot(self.runner.stats, time.time()))
                self._i += 1
                self._phase, self._since = "ramp", now
                if self._i >= len(self.steps):
                    self._close()
                    return None
                target = self.steps[self._i]
        return (target, self.spawn_rate)

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

    def _record(self, end):
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
        log.info("serverlab sweep: step %d, %s users: %d requests, %d failures, %.1f/s, p95 %s ms",
                 row["Step"], row["Users"], w["requests"], w["failures"], w["rps"], w["p95"])
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
