"""Declared HTTP users: a user class whose load is data, run by Python
workers as an ordinary HttpUser and by Go workers (bin/boomer) at the speed
of their own client, from the same locustfile.

    from locust import between
    from serverlab_locust.declare import DeclaredUser, Task, Request, Counter, Choice

    class ShopUser(DeclaredUser):
        wait_time = between(1, 2)
        values = {"n": Counter(), "item": Choice(["tea", "cake"])}
        on_start_requests = [Request("POST", "/login", json={"user": "u{n}"})]
        tasks = [
            Task(Request("GET", "/"), weight=3),
            Task([Request("GET", "/item/{item}", name="/item"),
                  Request("GET", "/gone", expect=[404])], tags=["shop"]),
        ]

A class is declared when everything it does is here: tasks that are Task
objects, on_start and on_stop that are the requests given, a wait_time made
by Locust's between, constant, constant_pacing or constant_throughput. The
master sends the declared classes of its locustfile to every Go worker that
asks; a class with Python code of its own (an @task method, an on_start
method) is named to the worker with the reason, and the Go worker runs the
others.

    python -m serverlab_locust.declare locustfile.py   # the declarations, as a Go worker gets them (JSON)
"""

import itertools
import json
import logging
import os
import random
import re
import sys
import threading
import urllib.parse

from locust import HttpUser, events
from locust.runners import MasterRunner, WorkerRunner

log = logging.getLogger("serverlab.declare")

# The custom messages between the master and Go workers; the README's
# section on declared users gives their data.
MSG_REQUEST = "serverlab_declared_request"  # worker -> master: {"version": 1}
MSG_SPEC = "serverlab_declared"  # master -> that worker: the spec
MSG_REPORT = "serverlab_declared_report"  # worker -> master: what it runs and what not

SPEC_VERSION = 1

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render(text, values):
    """Fills each {name} whose name is one of the user's values; any other
    brace stays as written."""
    if "{" not in text:
        return text

    def fill(m):
        v = values.get(m.group(1))
        return m.group(0) if v is None else str(v)

    return _PLACEHOLDER.sub(fill, text)


def _render_json(obj, values):
    if isinstance(obj, str):
        return render(obj, values)
    if isinstance(obj, list):
        return [_render_json(x, values) for x in obj]
    if isinstance(obj, dict):
        return {render(k, values) if isinstance(k, str) else k: _render_json(v, values) for k, v in obj.items()}
    return obj


class Counter:
    """A number per user: each user of the class takes the next one when it
    starts (start, start+step, ...), counted in its own worker process."""

    def __init__(self, start=1, step=1):
        if not isinstance(start, int) or not isinstance(step, int) or isinstance(start, bool):
            raise TypeError("Counter(start, step) takes whole numbers")
        self.start, self.step = start, step
        self._next = itertools.count(start, step)
        self._lock = threading.Lock()

    def draw(self):
        with self._lock:
            return next(self._next)

    def spec(self):
        return {"kind": "counter", "start": self.start, "step": self.step}


class Choice:
    """One of items per user, chosen at random when the user starts."""

    def __init__(self, items):
        items = [str(x) for x in items]
        if not items:
            raise ValueError("Choice() needs at least one item")
        self.items = items

    def draw(self):
        return random.choice(self.items)

    def spec(self):
        return {"kind": "choice", "items": list(self.items)}


_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


class Request:
    """One request: method, path (relative to the host), query pairs,
    headers, a body (str) or json (any JSON value), the stats row's name,
    and expect: the status codes that count as success (default: below
    400, as HttpUser's raise_for_status). {name} in the path, query,
    headers, body or json's strings is the user's value of that name.
    The name defaults to the path and query as written, placeholders and
    all, so that one declared request is one row."""

    def __init__(self, method, path, query=None, headers=None, body=None, json=None, name=None, expect=None):
        method = str(method).upper()
        if method not in _METHODS:
            raise ValueError(f"Request method {method!r}: want one of {', '.join(sorted(_METHODS))}")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"Request path {path!r}: want a path starting with /")
        if body is not None and json is not None:
            raise ValueError("Request takes body or json, not both")
        if body is not None and not isinstance(body, str):
            raise TypeError("Request body must be a str (use json= for data)")
        self.method, self.path = method, path
        if isinstance(query, dict):
            query = list(query.items())
        self.query = [(str(k), str(v)) for k, v in (query or [])]
        self.headers = [(str(k), str(v)) for k, v in (headers or {}).items()]
        self.body, self.json = body, json
        self.json_text = None if json is None else _dumps(json)
        self.expect = None if expect is None else sorted({int(c) for c in expect})
        if self.expect is not None and not self.expect:
            raise ValueError("Request expect=[]: want at least one status code")
        # The braces stay readable in the name: "/item?id={n}".
        self.name = name or (path + ("?" + urllib.parse.urlencode(self.query, safe="{}") if self.query else ""))
        # Without a name of its own and nothing to fill, the request goes
        # without name=, as a hand-written one would: Locust 2.12 then
        # names a failed status by the full URL.
        self._pass_name = name is not None or "{" in self.name

    def url(self, values):
        path = render(self.path, values)
        if not self.query:
            return path
        q = urllib.parse.urlencode([(render(k, values), render(v, values)) for k, v in self.query])
        return path + ("&" if "?" in path else "?") + q

    def run(self, user):
        """Makes the request as a hand-written HttpUser task would."""
        values = user.declared_values
        kwargs = {"name": self.name} if self._pass_name else {}
        if self.headers:
            kwargs["headers"] = {render(k, values): render(v, values) for k, v in self.headers}
        if self.body is not None:
            kwargs["data"] = render(self.body, values).encode("utf-8")
        elif self.json is not None:
            kwargs["json"] = _render_json(self.json, values)
        if self.expect is None:
            user.client.request(self.method, self.url(values), **kwargs)
            return
        with user.client.request(self.method, self.url(values), catch_response=True, **kwargs) as resp:
            if resp.status_code in self.expect:
                resp.success()
            elif resp.status_code:
                resp.failure(unexpected_status(resp.status_code, self.expect))
            # status 0: no response; Locust records the error itself.

    def spec(self):
        return {
            "method": self.method,
            "path": self.path,
            "query": [list(p) for p in self.query],
            "headers": [list(h) for h in self.headers],
            "body": self.body if self.body is not None else self.json_text,
            "json": self.json is not None,
            "name": self.name,
            # Without name=, a worker names the request by its URL, the
            # host's path and query joined as requests joins them.
            "named": self._pass_name,
            "expect": self.expect,
        }


def _dumps(obj):
    # requests sends json= as json.dumps(obj, allow_nan=False) does.
    return json.dumps(obj, allow_nan=False)


def unexpected_status(status, expect):
    """The failure of a status not in expect; Go workers say the same."""
    return f"status {status}, expected {' or '.join(str(c) for c in expect)}"


def get(path, **kw):
    return Request("GET", path, **kw)


def post(path, **kw):
    return Request("POST", path, **kw)


class Task:
    """A task: one request or a list run in order, its weight among the
    class's tasks, and its tags (as Locust's @tag gives)."""

    def __init__(self, requests, weight=1, tags=()):
        if isinstance(requests, Request):
            requests = [requests]
        requests = list(requests)
        if not requests or not all(isinstance(r, Request) for r in requests):
            raise TypeError("Task takes a Request or a list of Requests")
        if not isinstance(weight, int) or weight < 1:
            raise ValueError(f"Task weight {weight!r}: want a whole number, 1 or more")
        self.requests, self.weight = requests, weight
        if tags:
            self.locust_tag_set = set(tags)
        self.__name__ = requests[0].name

    def __call__(self, user):
        for r in self.requests:
            r.run(user)

    def spec(self, weight):
        return {
            "name": self.__name__,
            "weight": weight,
            "tags": sorted(getattr(self, "locust_tag_set", ())),
            "requests": [r.spec() for r in self.requests],
        }


class _DeclaredMeta(type(HttpUser)):
    """Weighs a Task as Locust weighs tasks: repeated in the class's list,
    for the tasks the class itself declares (inherited ones are weighed
    already)."""

    def __new__(mcs, classname, bases, class_dict):
        tasks = class_dict.get("tasks")
        if isinstance(tasks, (list, tuple)):
            class_dict["tasks"] = [x for t in tasks for x in [t] * (t.weight if isinstance(t, Task) else 1)]
        return super().__new__(mcs, classname, bases, class_dict)


class DeclaredUser(HttpUser, metaclass=_DeclaredMeta):
    """An HttpUser whose tasks, on_start and on_stop are declared (see the
    module's doc). Each request gets the run's --connect-timeout and
    --response-timeout when the locustfile has those options."""

    abstract = True
    values = {}
    on_start_requests = []
    on_stop_requests = []

    def __init__(self, environment):
        super().__init__(environment)
        self.declared_values = {name: v.draw() for name, v in self.values.items()}
        options = environment.parsed_options
        timeout = (
            _seconds(getattr(options, "connect_timeout", None)),
            _seconds(getattr(options, "response_timeout", None)),
        )
        if timeout != (None, None):
            request = self.client.request

            def request_with_timeouts(method, url, *args, **kwargs):
                # requests' read timeout bounds each wait on the socket, as
                # the Go worker's response timeout does.
                kwargs.setdefault("timeout", timeout)
                return request(method, url, *args, **kwargs)

            self.client.request = request_with_timeouts
        # HttpUser trusts only certifi's roots (it ignores the environment);
        # a lab's own CA is named here, and bin/boomer reads the same variable.
        if os.environ.get("REQUESTS_CA_BUNDLE"):
            self.client.verify = os.environ["REQUESTS_CA_BUNDLE"]
        self.client.request_event = MaskedAddresses(self.client.request_event)

    def on_start(self):
        for r in self.on_start_requests:
            r.run(self)

    def on_stop(self):
        for r in self.on_stop_requests:
            r.run(self)


def _seconds(value):
    """A timeout option as requests takes it: None (wait) for 0 or none."""
    return float(value) if value and float(value) > 0 else None


class MaskedAddresses:
    """Forwards request events with object addresses masked in the
    exception's text. urllib3 2 writes a connection as
    "<HTTPConnection(host=..., port=...) at 0x7f...>", which Locust's
    grouping (it masks "object at 0x...") leaves alone, so every failed
    connect would get a Failures row of its own; masked as Locust masks
    the older form, they group, and match the Go worker's."""

    def __init__(self, hook):
        self._hook = hook

    def fire(self, **kwargs):
        exception = kwargs.get("exception")
        if exception is not None and not isinstance(exception, str):
            text = repr(exception)
            masked = self.mask(text)
            if masked != text:
                kwargs["exception"] = masked
        return self._hook.fire(**kwargs)

    @staticmethod
    def mask(text):
        out, i = [], 0
        while (at := text.find(" at 0x", i)) >= 0:
            start = at + len(" at 0x")
            end = start
            while end < len(text) and text[end] in "0123456789abcdefABCDEF":
                end += 1
            if end == start or end == len(text) or text[end] != ">":
                out.append(text[i:start])
                i = start
                continue
            out.append(text[i:start] + "....")
            i = end
        out.append(text[i:])
        return "".join(out)

    def __getattr__(self, name):
        return getattr(self._hook, name)


# --- what a Go worker gets ---

_WAITS = {
    "between": ("between", ("min_wait", "max_wait")),
    "constant": ("constant", ("wait_time",)),
    "constant_pacing": ("pacing", ("wait_time",)),
}


def wait_spec(fn):
    """The declaration of a wait_time made by Locust's wait functions, or
    None. constant_throughput(r) is constant_pacing(1/r) in Locust."""
    if getattr(fn, "__module__", None) != "locust.user.wait_time":
        return None
    kind = _WAITS.get(fn.__qualname__.split(".")[0])
    code = getattr(fn, "__code__", None)
    if kind is None or code is None or fn.__closure__ is None:
        return None
    cells = dict(zip(code.co_freevars, (c.cell_contents for c in fn.__closure__)))
    try:
        args = [float(cells[n]) for n in kind[1]]
    except (KeyError, TypeError, ValueError):
        return None
    if kind[0] == "between":
        return {"kind": "between", "min": args[0], "max": args[1]}
    return {"kind": kind[0], "seconds": args[0]}


def class_spec(cls):
    """(spec, None) for a class a Go worker can run, (None, reason) for one
    it cannot."""
    if not (isinstance(cls, type) and issubclass(cls, DeclaredUser)):
        return None, "not a DeclaredUser: its tasks are Python code"
    for method in ("on_start", "on_stop"):
        if getattr(cls, method) is not getattr(DeclaredUser, method):
            return None, f"its {method} is Python code"
    wait = wait_spec(cls.wait_time)
    if wait is None:
        return None, "its wait_time is not Locust's between, constant, constant_pacing or constant_throughput"
    tasks, weights = [], {}
    for t in cls.tasks:
        if not isinstance(t, Task):
            return None, f"task {getattr(t, '__name__', t)!r} is Python code"
        if id(t) not in weights:
            tasks.append(t)
        weights[id(t)] = weights.get(id(t), 0) + 1
    for name, v in cls.values.items():
        if not isinstance(v, (Counter, Choice)) or not _PLACEHOLDER.fullmatch("{" + str(name) + "}"):
            return None, f"value {name!r} is not a Counter or a Choice with a plain name"
    spec = {
        "name": cls.__name__,
        "weight": int(getattr(cls, "weight", 1) or 0),
        "fixed_count": int(getattr(cls, "fixed_count", 0) or 0),
        # Locust gives every class the run's host when there is one; a
        # class's own is for runs without.
        "host": str(getattr(cls, "host", None) or ""),
        "wait": wait,
        "values": {name: v.spec() for name, v in cls.values.items()},
        "on_start": [r.spec() for r in cls.on_start_requests],
        "on_stop": [r.spec() for r in cls.on_stop_requests],
        "tasks": [t.spec(weights[id(t)]) for t in tasks],
    }
    return spec, None


def build_spec(user_classes):
    """The message a Go worker gets: every declared class, and the reason
    for each class it cannot run."""
    classes, unsupported = [], {}
    for cls in user_classes:
        spec, why = class_spec(cls)
        if spec is None:
            unsupported[cls.__name__] = why
        else:
            classes.append(spec)
    return {"version": SPEC_VERSION, "classes": classes, "unsupported": unsupported}


def _user_classes(environment):
    available = getattr(environment, "available_user_classes", None)
    if available:
        return list(available.values())
    return list(environment.user_classes)


@events.init.add_listener
def _serve_declarations(environment, **_kw):
    runner = environment.runner
    if isinstance(runner, MasterRunner):

        def on_request(environment, msg, **_kw):
            spec = build_spec(_user_classes(environment))
            environment.runner.send_message(MSG_SPEC, spec, client_id=msg.node_id)

        def on_report(environment, msg, **_kw):
            data = msg.data or {}
            runs = ", ".join(data.get("classes") or []) or "nothing"
            line = f"serverlab: Go worker {msg.node_id} runs {runs}"
            cannot = data.get("unsupported") or {}
            if cannot:
                line += "; it cannot run " + "; ".join(f"{k} ({v})" for k, v in sorted(cannot.items()))
                log.warning(line)
            else:
                log.info(line)

        runner.register_message(MSG_REQUEST, on_request)
        runner.register_message(MSG_REPORT, on_report)
    elif isinstance(runner, WorkerRunner):
        # Only Go workers ask; a Python worker ignores a stray answer.
        runner.register_message(MSG_SPEC, lambda **_kw: None)


def _load(path):
    """The user classes of a locustfile, as Locust finds them."""
    import importlib.util
    import os

    from locust import User

    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location("locustfile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, User) and not getattr(v, "abstract", False)
    ]


def main(argv):
    if len(argv) != 1:
        sys.exit("usage: python -m serverlab_locust.declare LOCUSTFILE")
    try:
        classes = _load(argv[0])
    except Exception as e:  # one line, not a traceback
        sys.exit(f"{argv[0]}: {e.__class__.__name__}: {e}")
    json.dump(build_spec(classes), sys.stdout)
    print()


if __name__ == "__main__":
    # The locustfile imports this module by its name; its DeclaredUser is
    # that module's, not __main__'s.
    from serverlab_locust import declare

    declare.main(sys.argv[1:])
