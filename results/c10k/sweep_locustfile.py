"""The locustfile of this sweep, written by bin/lab run: the repository's
user classes, and a load shape holding each user count for 20s once ramped."""

import sys

sys.path.insert(0, "/work/main")

from locustfile import *  # noqa: F401,F403  the user classes and options
from serverlab_locust.sweep import step_shape, heartbeat_liveness

Sweep = step_shape([1000, 2500, 5000, 10000, 15000, 19500], hold=20, spawn_rate=1000)

# The last steps' ramps can hold the worker's heartbeats back a few seconds.
heartbeat_liveness(10)
