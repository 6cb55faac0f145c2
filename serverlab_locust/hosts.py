"""Where each target is, when every model runs at once on its own port.

One URL template with {model} in it cannot say "epoll is on port 8109 and
select on 8106", so a master may be given the list instead:

    --target-hosts 'epoll=http://127.0.0.1:8109,select=http://127.0.0.1:8106'

When a run starts without a host (the web UI's Host field left empty, no
-H), the master makes the chosen --target's URL the run's host, which it
sends to every worker: Go workers and Python workers aim at the right port
with nothing of their own to configure. A host typed in the form still
wins. Choosing a target the list does not name is refused with a message
in the web UI. `bin/lab up` starts the master this way.

--target-admin-url takes the same MODEL=URL form for the Target tab (see
target.py); `pairs` reads both.
"""

import argparse
import logging
import urllib.parse

from flask import jsonify, request
from locust import events
from locust.runners import WorkerRunner

log = logging.getLogger("serverlab")


def is_pairs(value):
    """A MODEL=URL list rather than one URL (template): a URL starts with
    its scheme, a list with a model's name."""
    v = (value or "").strip()
    return bool(v) and not v.lower().startswith(("http://", "https://")) and "=" in v


def pairs(value):
    """{model: url} from "MODEL=URL,MODEL=URL"; ValueError says what is wrong."""
    out = {}
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        model, sep, url = item.partition("=")
        model, url = model.strip(), url.strip()
        if not sep or not model:
            raise ValueError(f"{item!r}: want MODEL=URL")
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.netloc:
            raise ValueError(f"{item!r}: {url!r} is not an http:// URL")
        if model in out:
            raise ValueError(f"{model!r} named twice")
        out[model] = url.rstrip("/")
    if not out:
        raise ValueError("names no target")
    return out


def _checked_pairs(value):
    """argparse's check of --target-hosts: the text stays a string (the web
    UI and the workers' options carry it as one), but a bad list is refused
    with one line before anything starts. Empty is none given (argparse
    checks the default too)."""
    if not value.strip():
        return ""
    try:
        pairs(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


@events.init_command_line_parser.add_listener
def _add_arguments(parser, **_kwargs):
    parser.add_argument(
        "--target-hosts",
        env_var="TARGET_HOSTS",
        type=_checked_pairs,
        default="",
        include_in_web_ui=False,
        help="each target's base URL, MODEL=URL comma-separated: a run without a host "
        "gets the chosen --target's, which the master sends to every worker (env TARGET_HOSTS)",
    )


class HostMap:
    """Gives a run without a host the chosen target's URL, and takes it back
    when the run stops, so that the next run (another target) gets its own."""

    def __init__(self, environment, hosts):
        self.environment = environment
        self.hosts = hosts
        self.given = None  # the host this map set, while it is the run's

    def target(self):
        return getattr(self.environment.parsed_options, "target", None) or ""

    def missing(self, target):
        """Why target cannot run here, or None."""
        if target in self.hosts:
            return None
        return (f"target {target or '(none)'} is not running here: choose one of "
                + ", ".join(self.hosts) + ", or type a Host")

    def apply(self):
        """Before the spawn messages go out: the chosen target's URL, unless
        someone gave a host of their own."""
        env = self.environment
        if env.host and env.host != self.given:
            return
        url = self.hosts.get(self.target())
        if url is None:
            log.warning("serverlab: %s", self.missing(self.target()))
            return
        env.host = self.given = url

    def release(self):
        if self.given is not None and self.environment.host == self.given:
            self.environment.host = ""
        self.given = None


def _add_to_web_ui(web_ui, host_map):
    app = web_ui.app

    @app.before_request
    def _refuse_unknown_target():
        if request.method != "POST" or not request.path.endswith("/swarm"):
            return None
        typed = (request.form.get("host") or "").strip()
        if typed:
            return None
        target = request.form.get("target", host_map.target())
        why = host_map.missing(target)
        if why is None:
            return None
        return jsonify({"success": False, "message": why, "host": host_map.environment.host})

    @app.after_request
    def _give_host(response):
        # Locust's /swarm has just set the host from the form and queued the
        # runner's start, which runs only once this request has ended: a run
        # already going (a new user count) gets the host here, since no
        # test_start comes for it.
        if (request.method == "POST" and request.path.endswith("/swarm")
                and response.status_code == 200):
            host_map.apply()
        return response


@events.init.add_listener
def _on_init(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner):
        return  # the master decides the host for everyone
    value = getattr(environment.parsed_options, "target_hosts", "") if environment.parsed_options else ""
    if not value:
        return
    host_map = HostMap(environment, pairs(value))
    environment.serverlab_hosts = host_map

    @environment.events.test_start.add_listener
    def _on_test_start(**_kw):
        host_map.apply()

    @environment.events.test_stop.add_listener
    def _on_test_stop(**_kw):
        host_map.release()

    if environment.web_ui:
        _add_to_web_ui(environment.web_ui, host_map)
