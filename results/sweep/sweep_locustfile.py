"""The locustfile of this sweep, written by bin/lab run: the repository's
user classes, and a load shape holding each user count for 30s once ramped."""

import sys

sys.path.insert(0, "/work/wt/measure")

from locustfile import *  # noqa: F401,F403  the user classes and options
from serverlab_locust.sweep import step_shape

Sweep = step_shape([10, 100, 1000, 2000, 5000], hold=30, spawn_rate=500)
