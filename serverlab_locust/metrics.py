"""The target's own figures, read from its admin /metrics (Prometheus text).

The reader is ours, not prometheus_client's: the compose master is the stock
locustio/locust image with the locustfile bind-mounted, and Debian's Locust
runs on the system Python; prometheus_client is in neither, so the library
would cost a custom master image and another system package for what is a
few lines here. Only sample lines are read (`name{label="v",...} value
[timestamp]`, the text format bin/target writes through client_golang);
HELP and TYPE lines are skipped. A test checks this reader against Go's own
parser (prometheus/common/expfmt) on a live target's output.

No Locust import here, so that the reader runs on any Python.
"""

import re

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\.)*)"\s*')
_UNESCAPE = re.compile(r"\\(.)")


def _unescape(value):
    return _UNESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse(text):
    """Samples by metric name: {name: [(labels, value), ...]}.

    A malformed sample line raises ValueError naming the line, so that a
    wrong URL (a page that is not /metrics) reads as an error, not as zeros.
    """
    samples = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _NAME.match(line)
        if not m:
            raise ValueError(f"line {n}: not a metric sample: {line[:80]!r}")
        name, pos, labels = m.group(), m.end(), {}
        if line.startswith("{", pos):
            pos += 1
            while True:
                if line.startswith("}", pos):
                    pos += 1
                    break
                lm = _LABEL.match(line, pos)
                if not lm:
                    raise ValueError(f"line {n}: bad label set: {line[:80]!r}")
                labels[lm.group(1)] = _unescape(lm.group(2))
                pos = lm.end()
                if line.startswith(",", pos):
                    pos += 1
                elif not line.startswith("}", pos):
                    raise ValueError(f"line {n}: bad label set: {line[:80]!r}")
        rest = line[pos:].split()
        if not rest or len(rest) > 2 or (pos < len(line) and not line[pos].isspace()):
            raise ValueError(f"line {n}: no value: {line[:80]!r}")
        try:
            value = float(rest[0])  # also NaN, +Inf, -Inf as the format spells them
        except ValueError:
            raise ValueError(f"line {n}: bad value {rest[0]!r}") from None
        samples.setdefault(name, []).append((labels, value))
    return samples


def _total(samples, name):
    """The sum over a metric's label sets; None when the target does not
    expose it (an older target, or a figure its model does not have)."""
    if name not in samples:
        return None
    return sum(v for _, v in samples[name])


def _counted(samples, name):
    """A figure no running process can have at 0 (descriptors, threads,
    memory): 0 means the target could not count it (it reads /proc, which
    takes a descriptor it may not have), so it is unknown, not zero."""
    return _total(samples, name) or None


def read(samples):
    """The figures the Target tab and PREFIX_target.csv show, from parsed
    samples. Each is a number, or None when the target does not say."""
    errors = {}
    for labels, v in samples.get("serverlab_accept_errors_total", []):
        errno = labels.get("errno", "other")
        errors[errno] = errors.get(errno, 0) + v
    has_errors = "serverlab_accept_errors_total" in samples
    return {
        "open_fds": _counted(samples, "serverlab_open_fds"),
        "max_fds": _total(samples, "serverlab_max_fds"),
        "emfile": errors.get("EMFILE", 0) if has_errors else None,
        "other_accept_errors": sum(v for e, v in errors.items() if e != "EMFILE") if has_errors else None,
        "accept_errors": errors if has_errors else None,
        "connections_shed": _total(samples, "serverlab_connections_shed_total"),
        "connections_active": _total(samples, "serverlab_connections_active"),
        "connections_accepted": _total(samples, "serverlab_connections_accepted_total"),
        "threads": _counted(samples, "serverlab_os_threads"),
        "child_processes": _total(samples, "serverlab_child_processes"),
        "rss_bytes": _counted(samples, "serverlab_resident_memory_bytes"),
        "cpu_seconds": _total(samples, "serverlab_cpu_seconds_total"),
    }
