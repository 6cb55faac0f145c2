"""serverlab's load: the user classes every run uses, declared once.

The classes are declared users (serverlab_locust.declare): Python workers run
them as HttpUsers, and the master sends them to Go workers (bin/boomer), which
run the same tasks, weights and waits, so a master can drive either or both.

    locust -f locustfile.py --target epoll                 # web UI, target chosen there too
    locust -f locustfile.py --headless -u 50 -r 10 -H http://127.0.0.1:8080 HammerUser

Without a host (-H or the web UI's Host field), users aim at the model named
by --target through the TARGET_URL template (default http://target-{model}:8080,
the compose service names). Runs under Locust 2.12.1 and newer.
"""

import logging
import os

from locust import between, constant, events
from locust.runners import WorkerRunner

import serverlab_locust.target  # noqa: F401  the Target tab, /target/stats, PREFIX_target.csv
from serverlab_locust.declare import DeclaredUser, Task, get

# The concurrency models bin/target serves, in the order of the journey.
TARGETS = [
    "single",
    "process",
    "prefork",
    "thread",
    "threadpool",
    "goroutine",
    "select",
    "poll",
    "busypoll",
    "epoll",
    "reactor",
    "fasthttp",
    "nethttp",
]

DEFAULT_TARGET = "epoll"
DEFAULT_TARGET_URL = "http://target-{model}:8080"

# What a worker records when its process has run out of file descriptors:
# Python workers say OSError(24, 'Too many open files'), and so does bin/boomer.
FD_ERROR = "Too many open files"

log = logging.getLogger("serverlab")


@events.init_command_line_parser.add_listener
def _add_arguments(parser):
    parser.add_argument(
        "--target",
        choices=TARGETS,
        default=DEFAULT_TARGET,
        include_in_web_ui=True,
        help="concurrency model to load when no host is given (URL from $TARGET_URL, "
        "default " + DEFAULT_TARGET_URL + ")",
    )
    # The README's section on failures argues the defaults.
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=5.0,
        include_in_web_ui=True,
        help="seconds a user waits for a connection, and for its request to be sent, "
        "before the request fails (0: no timeout; default %(default)s)",
    )
    parser.add_argument(
        "--response-timeout",
        type=float,
        default=10.0,
        include_in_web_ui=True,
        help="seconds a user waits for a response's first byte, and for each next one, "
        "before the request fails (0: no timeout; default %(default)s)",
    )


def target_host(environment):
    """The base URL for the model in parsed_options.target."""
    options = environment.parsed_options
    model = getattr(options, "target", None) or DEFAULT_TARGET
    return os.environ.get("TARGET_URL", DEFAULT_TARGET_URL).replace("{model}", model)


class LabHttpUser(DeclaredUser):
    """Resolves the host from --target when neither -H nor the UI gave one
    (Go workers do the same with --target-url)."""

    abstract = True

    def __init__(self, environment):
        if not self.host:
            self.host = target_host(environment)
        super().__init__(environment)


class LabUser(LabHttpUser):
    """A reader: one page now and then. Thousands of them are mostly idle
    keep-alive connections, which is what separates the models."""

    wait_time = between(1, 5)
    tasks = [Task(get("/"))]


class BrowserUser(LabHttpUser):
    """A browser loading the page and its three assets on one connection."""

    wait_time = between(1, 5)
    tasks = [Task([get("/"), get("/style.css"), get("/app.js"), get("/photo.jpg")])]


class HammerUser(LabHttpUser):
    """Requests back to back: the throughput ceiling."""

    wait_time = constant(0)
    tasks = [Task(get("/"))]


class SlowIOUser(LabHttpUser):
    """Each request waits 100 ms in the server without blocking it: models
    that tie a thread to a connection run out of threads."""

    wait_time = between(0.5, 1.5)
    tasks = [Task(get("/delay?ms=100"))]


class CPUUser(LabHttpUser):
    """Each request costs the server about a millisecond of CPU."""

    wait_time = between(0.5, 1.5)
    tasks = [Task(get("/cpu?n=1000"))]


def fd_error_count(environment):
    """Failures that were an exhausted fd table, from every worker: the
    master's stats hold the errors of Python and Go workers alike."""
    return sum(
        e.occurrences for e in environment.stats.errors.values() if FD_ERROR in str(e.error)
    )


@events.init.add_listener
def _report_fd_errors(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner):
        return  # the master counts for everyone

    def report(label):
        n = fd_error_count(environment)
        line = f"serverlab: {label}: {n} requests failed with '{FD_ERROR}'"
        log.info(line)
        return line

    @environment.events.test_stop.add_listener
    def _on_test_stop(**_kw):
        report("test stopped")

    @environment.events.quit.add_listener
    def _on_quit(**_kw):
        print(report("run ended"), flush=True)

    if environment.web_ui:

        @environment.web_ui.app.route("/fd-errors")
        def _fd_errors():
            return {"too_many_open_files": fd_error_count(environment)}
