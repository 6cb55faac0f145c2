"""The server side of a run, next to Locust's: the chosen target's own
figures (descriptors in use against the limit, accept errors, connections
shed and active, threads, child processes, resident memory, CPU), sampled
from its admin /metrics about once a second while a test runs.

Shown in the web UI's Target tab (Locust's React UI, as in 2.47.0) and on
the page /target (every version, 2.12.1 included), served as JSON on
/target/stats, and written, one row per sample, to PREFIX_target.csv when
--csv PREFIX is given. So a run shows whether its failures came from the server running out
or from the generator.

Import it from a locustfile (`import serverlab_locust.target`). It samples
on the master or a standalone runner, never on workers.
"""

import csv
import http.client
import io
import json
import time
import urllib.parse
from collections import deque

import gevent
import gevent.lock
from flask import Response, jsonify, request
from locust import events
from locust.runners import WorkerRunner

from . import hosts, metrics

DEFAULT_ADMIN_URL = "http://target-{model}:9090"

# Once a second, and never waiting longer than that for an answer: a target
# whose admin port does not answer within a second is shown as not answering.
SAMPLE_EVERY = 1.0
TIMEOUT = 1.0

# A day of samples for /target/csv; the CSV file keeps every one.
HISTORY = 86400

TAB_KEY = "target"

# What a kept-alive connection closed by the other side raises.
_CLOSED = (http.client.RemoteDisconnected, http.client.CannotSendRequest, ConnectionResetError,
           BrokenPipeError, ConnectionAbortedError)

# PREFIX_target.csv, in Locust's own CSV style. An empty cell is a figure the
# target did not give (not answering, or not exposing that metric): never a 0.
CSV_COLUMNS = [
    ("Timestamp", lambda s: int(s["time"])),
    ("Target", lambda s: s["target"]),
    ("Admin URL", lambda s: s["admin_url"]),
    ("Answered", lambda s: 1 if s["answered"] else 0),
    ("Error", lambda s: s["error"] or ""),
    ("Open FDs", lambda s: _fig(s, "open_fds")),
    ("Max FDs", lambda s: _fig(s, "max_fds")),
    ("EMFILE", lambda s: _fig(s, "emfile")),
    ("Other Accept Errors", lambda s: _fig(s, "other_accept_errors")),
    ("Connections Shed", lambda s: _fig(s, "connections_shed")),
    ("Active Connections", lambda s: _fig(s, "connections_active")),
    ("Accepted Connections", lambda s: _fig(s, "connections_accepted")),
    ("Threads", lambda s: _fig(s, "threads")),
    ("Child Processes", lambda s: _fig(s, "child_processes")),
    ("RSS Bytes", lambda s: _fig(s, "rss_bytes")),
    ("CPU %", lambda s: _fig(s, "cpu_percent", 1)),
]


def _num(v, digits=0):
    if v is None:
        return ""
    if digits == 0 or float(v).is_integer():
        return str(int(round(v)))
    return f"{v:.{digits}f}"


def _fig(sample, key, digits=0):
    figures = sample["figures"]
    return _num(figures.get(key) if figures else None, digits)


@events.init_command_line_parser.add_listener
def _add_arguments(parser, **_kwargs):
    parser.add_argument(
        "--target-admin-url",
        env_var="TARGET_ADMIN_URL",
        default=DEFAULT_ADMIN_URL,
        help="the target's admin base URL, whose /metrics the Target tab and "
        "PREFIX_target.csv show; {model} is replaced by --target. Or each target's, "
        "MODEL=URL comma-separated. Also when a host is given (env TARGET_ADMIN_URL, "
        "default " + DEFAULT_ADMIN_URL + ")",
    )


def admin_url(options):
    """The admin base URL for the model in options.target: the template with
    {model} replaced, or the model's own from a MODEL=URL list. A model the
    list does not name, or a list that does not read, raises ValueError,
    which the Target tab shows as the reason it has no figures."""
    template = getattr(options, "target_admin_url", None) or DEFAULT_ADMIN_URL
    model = getattr(options, "target", None) or ""
    if not hosts.is_pairs(template):
        return template.replace("{model}", model)
    urls = hosts.pairs(template)
    if model not in urls:
        raise ValueError(f"--target-admin-url names no admin URL for target {model or '(none)'}")
    return urls[model]


class Sampler:
    """Samples one target's /metrics while a test runs."""

    def __init__(self, environment):
        self.environment = environment
        self.target = None
        self.url = None
        self._url_error = None
        self.running = False
        self.last = None  # the latest sample
        self.history = deque(maxlen=HISTORY)
        self._answered = None  # (monotonic time, figures) of the latest answer, for rates
        self._lock = gevent.lock.RLock()
        self._greenlet = None
        self._conn = None
        self._conn_key = None
        self._conn_used = False
        self._csv = None
        self._csv_writer = None

    def start(self):
        """At test start: the target as the run's options name it (the web
        UI's form updates them first), a first sample before the users start,
        then one a second."""
        options = self.environment.parsed_options
        try:
            self.url, self._url_error = admin_url(options), None
        except ValueError as e:  # shown as the reason for no figures, run after run
            self.url, self._url_error = "", str(e)
        self._answered = None  # rates within a run, not across the pause between runs
        self.target = getattr(options, "target", None) or ""
        self.running = True
        self._open_csv(options)
        self.sample()
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._loop)

    def stop(self):
        """At test stop: no more sampling, after one last sample."""
        with self._lock:  # not in the middle of a request
            g, self._greenlet = self._greenlet, None
            if g is not None:
                g.kill(block=True)
        if self.running:
            self.sample()
        self.running = False

    def close(self):
        self._drop_conn()
        if self._csv is not None:
            self._csv.close()
            self._csv = self._csv_writer = None

    def _loop(self):
        due = time.monotonic()
        while True:
            due += SAMPLE_EVERY
            gevent.sleep(max(0.0, due - time.monotonic()))
            self.sample()
            if time.monotonic() > due + SAMPLE_EVERY:
                due = time.monotonic()  # fell behind (a slow target): no burst

    def sample(self):
        with self._lock:
            now, mono = time.time(), time.monotonic()
            s = {"time": now, "target": self.target, "admin_url": self.url,
                 "answered": False, "error": None, "figures": None}
            try:
                # Bounds the name lookup too, which no socket timeout covers:
                # a stop never waits long for a target that is not there.
                with gevent.Timeout(2 * TIMEOUT, TimeoutError()):
                    text = self._fetch()
                figures = metrics.read(metrics.parse(text))
            except (OSError, http.client.HTTPException, ValueError, UnicodeDecodeError) as e:
                s["error"] = _describe(e)
            except Exception as e:  # noqa: BLE001  a side job: whatever it meets, the load test goes on
                s["error"] = f"{type(e).__name__}: {e}"
            else:
                self._add_rates(figures, mono)
                s["answered"], s["figures"] = True, figures
            self.last = s
            self.history.append(s)
            if self._csv_writer is not None:
                self._csv_writer.writerow([f(s) for _, f in CSV_COLUMNS])
                self._csv.flush()
            return s

    def _add_rates(self, figures, mono):
        """CPU % from the CPU-seconds counter, and per-second rates of the
        counters, over the time since the previous answer."""
        prev, self._answered = self._answered, (mono, figures)
        for rate, counter in (("cpu_percent", "cpu_seconds"), ("emfile_per_s", "emfile"),
                              ("accepted_per_s", "connections_accepted"), ("shed_per_s", "connections_shed")):
            figures[rate] = None
            if prev is None or mono <= prev[0]:
                continue
            a, b = prev[1].get(counter), figures.get(counter)
            if a is None or b is None or b < a:  # missing, or the target restarted
                continue
            figures[rate] = (b - a) / (mono - prev[0]) * (100 if rate == "cpu_percent" else 1)

    def _fetch(self):
        """GET /metrics on one kept-alive connection: a target out of
        descriptors cannot accept a new one, but still answers on this."""
        if self._url_error:
            raise ValueError(self._url_error)
        u = urllib.parse.urlsplit(self.url)
        if u.scheme not in ("http", "https") or not u.netloc:
            raise ValueError(f"--target-admin-url {self.url!r} is not an http:// URL")
        path = u.path.rstrip("/")
        if not path.endswith("/metrics"):
            path += "/metrics"
        key = (u.scheme, u.netloc)
        if self._conn is None or self._conn_key != key:
            self._drop_conn()
            cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
            self._conn, self._conn_key, self._conn_used = cls(u.netloc, timeout=TIMEOUT), key, False
        while True:
            reused = self._conn_used
            try:
                self._conn.request("GET", path)
                resp = self._conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as e:
                self._conn.close()
                self._conn_used = False
                # A kept-alive connection the target closed: once more on a
                # new one. Anything else (a timeout, a refusal) is the answer.
                if reused and isinstance(e, _CLOSED):
                    continue
                raise
            self._conn_used = True
            if resp.status != 200:
                raise http.client.HTTPException(f"{path} answered HTTP {resp.status}")
            return body.decode("utf-8")

    def _drop_conn(self):
        if self._conn is not None:
            self._conn.close()
        self._conn, self._conn_key, self._conn_used = None, None, False

    def _open_csv(self, options):
        prefix = getattr(options, "csv_prefix", None)
        if not prefix or self._csv is not None:
            return
        self._csv = open(f"{prefix}_target.csv", "w", newline="", encoding="utf-8")
        self._csv_writer = csv.writer(self._csv)
        self._csv_writer.writerow([name for name, _ in CSV_COLUMNS])

    def stats(self):
        """What /target/stats serves."""
        s = self.last
        last_answer = next((h["time"] for h in reversed(self.history) if h["answered"]), None)
        return {
            "target": self.target,
            "admin_url": self.url,
            "running": self.running,
            "sampled_at": s and s["time"],
            "answered": bool(s and s["answered"]),
            "error": s and s["error"],
            "last_answer_at": last_answer,
            "samples": len(self.history),
            "figures": s and s["figures"],
            "rows": tab_rows(s),
        }

    def csv_text(self):
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow([name for name, _ in CSV_COLUMNS])
        for s in self.history:
            w.writerow([f(s) for _, f in CSV_COLUMNS])
        return out.getvalue()

    def summary(self):
        """One line for the end of a run: what the target went through."""
        answered = [s["figures"] for s in self.history if s["answered"]]
        if not self.history:
            return "serverlab: target: not sampled (no test ran)"
        head = f"serverlab: target {self.target} ({self.url}): {len(self.history)} samples"
        if not answered:
            return f"{head}, none answered ({self.history[-1]['error']})"

        def peak(key):
            vals = [f[key] for f in answered if f.get(key) is not None]
            return _num(max(vals)) if vals else "?"

        last = answered[-1]
        limit = last.get("max_fds")
        parts = [f"{len(self.history) - len(answered)} unanswered",
                 f"open fds peak {peak('open_fds')}" + (f" of {_num(limit)}" if limit else ""),
                 f"EMFILE {_num(last.get('emfile')) or '?'}",
                 f"other accept errors {_num(last.get('other_accept_errors')) or '?'}"]
        if last.get("connections_shed") is not None:
            parts.append(f"shed {_num(last['connections_shed'])}")
        return f"{head}; " + ", ".join(parts)


def _describe(e):
    text = str(e) or type(e).__name__
    if isinstance(e, TimeoutError) or text == "timed out":
        return f"no answer within {TIMEOUT:g} s"
    return text


def _mib(v):
    return f"{v / (1 << 20):.1f} MiB"


def tab_rows(s):
    """The Target tab's rows: figure, value now, per second."""
    if s is None:
        return [{"name": "Target", "value": "not sampled yet: start a test", "rate": ""}]
    age = time.time() - s["time"]
    status = f"answered {age:.1f} s ago" if s["answered"] else f"NOT ANSWERING ({s['error']}) {age:.1f} s ago"
    rows = [{"name": "Target", "value": f"{s['target'] or '?'} at {s['admin_url']}: {status}", "rate": ""}]
    f = s["figures"]
    if not f:
        return rows

    def row(name, value, rate=None, unit=""):
        rows.append({"name": name, "value": value, "rate": "" if rate is None else f"{rate:.1f}{unit}"})

    def n(v, absent="not reported by this target"):
        return absent if v is None else _num(v)

    fds, limit = f["open_fds"], f["max_fds"]
    if fds is None:
        fds_text = "unknown (the target could not count them)"
    elif limit:
        fds_text = f"{_num(fds)} of {_num(limit)} ({100 * fds / limit:.0f}%)"
    else:
        fds_text = f"{_num(fds)} (limit not reported)"
    row("Open descriptors", fds_text)
    row("Accept errors: EMFILE (too many open files)", n(f["emfile"]), f["emfile_per_s"])
    others = {e: v for e, v in (f["accept_errors"] or {}).items() if e != "EMFILE" and v}
    row("Other accept errors", n(f["other_accept_errors"]) + "".join(f" {e}: {_num(v)}" for e, v in sorted(others.items())))
    row("Connections shed", n(f["connections_shed"]), f["shed_per_s"])
    row("Active connections", n(f["connections_active"]))
    row("Accepted connections", n(f["connections_accepted"]), f["accepted_per_s"])
    row("Threads", n(f["threads"]))
    row("Child processes", n(f["child_processes"]))
    row("Resident memory", "not reported by this target" if f["rss_bytes"] is None else _mib(f["rss_bytes"]))
    row("CPU", "not reported by this target" if f["cpu_seconds"] is None else
        ("measured from the next sample" if f["cpu_percent"] is None else f"{f['cpu_percent']:.0f}%"))
    return rows


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Target - serverlab</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em 1em;text-align:left;border-bottom:1px solid #ddd}
.down{color:#b00;font-weight:bold}</style></head>
<body><h1>Target</h1><p>The target's own figures, from its admin <code>/metrics</code>,
once a second while a test runs (<a href="target/stats">JSON</a>, <a href="target/csv">CSV</a>, <a href="./">Locust</a>).</p>
<table><thead><tr><th>Figure</th><th>Now</th><th>Per second</th></tr></thead><tbody id="rows"></tbody></table>
<script>
async function refresh() {
  try {
    const s = await (await fetch("target/stats", {cache: "no-store"})).json();
    const body = document.getElementById("rows");
    body.replaceChildren(...s.rows.map((r, i) => {
      const tr = document.createElement("tr");
      for (const k of ["name", "value", "rate"]) {
        const td = document.createElement("td");
        td.textContent = r[k];
        tr.appendChild(td);
      }
      if (i === 0 && s.sampled_at && !s.answered) tr.className = "down";
      return tr;
    }));
  } catch (e) {}
  setTimeout(refresh, 1000);
}
refresh();
</script></body></html>
"""


def _add_to_web_ui(web_ui, sampler):
    app = web_ui.app
    auth = getattr(web_ui, "auth_required_if_enabled", lambda view: view)

    # The React UI (the pinned 2.47.0) draws extended tabs from these
    # template args and fills their tables from "extended_stats" in
    # /stats/requests, which it polls. Older UIs ignore both.
    args = web_ui.template_args
    args.setdefault("extended_tabs", []).append({"title": "Target", "key": TAB_KEY})
    args.setdefault("extended_tables", []).append({
        "key": TAB_KEY,
        "structure": [
            {"key": "name", "title": "Figure"},
            {"key": "value", "title": "Now"},
            {"key": "rate", "title": "Per second"},
        ],
    })
    args.setdefault("extended_csv_files", []).append({"href": "./target/csv", "title": "Download target CSV"})

    @app.after_request
    def _with_target_rows(response):
        if (request.path.endswith("/stats/requests") and response.status_code == 200
                and response.is_json):
            data = response.get_json()
            extended = [e for e in data.get("extended_stats") or [] if e.get("key") != TAB_KEY]
            extended.append({"key": TAB_KEY, "data": tab_rows(sampler.last)})
            data["extended_stats"] = extended
            response.set_data(json.dumps(data))
        return response

    def page():
        return Response(_PAGE, mimetype="text/html")

    def stats():
        return jsonify(sampler.stats())

    def csv_file():
        return Response(sampler.csv_text(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=target.csv"})

    app.add_url_rule("/target", "serverlab_target", auth(page))
    app.add_url_rule("/target/stats", "serverlab_target_stats", auth(stats))
    app.add_url_rule("/target/csv", "serverlab_target_csv", auth(csv_file))


@events.init.add_listener
def _on_init(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner):
        return  # the master samples for the whole run
    sampler = Sampler(environment)
    environment.serverlab_target = sampler

    @environment.events.test_start.add_listener
    def _on_test_start(**_kw):
        sampler.start()

    @environment.events.test_stop.add_listener
    def _on_test_stop(**_kw):
        sampler.stop()

    @environment.events.quit.add_listener
    def _on_quit(**_kw):
        sampler.stop()
        print(sampler.summary(), flush=True)
        sampler.close()

    if environment.web_ui:
        _add_to_web_ui(environment.web_ui, sampler)

