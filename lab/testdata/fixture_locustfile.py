# Users for the CSV fixtures of lab/locustcsv and lab/report: a loopback
# server answers /ok and /slow with 200 and /err with 500; a closed port gives
# ConnectionRefusedError; /emfile records the failure a worker out of file
# descriptors reports, without exhausting any.
import os

from locust import HttpUser, constant, task

REFUSED_URL = os.environ["FIXTURE_REFUSED_URL"]
WAIT = float(os.environ.get("FIXTURE_WAIT", "0.05"))


class FixtureUser(HttpUser):
    wait_time = constant(WAIT)

    def on_start(self):
        # Every kind once per user, whatever the weights draw: a run on a
        # busy machine makes few requests, and each kind must be in the CSVs.
        self.err()
        self.refused()
        self.emfile()

    @task(8)
    def ok(self):
        self.client.get("/ok")

    @task(2)
    def slow(self):
        self.client.get("/slow")

    @task(1)
    def err(self):
        self.client.get("/err")

    @task(1)
    def refused(self):
        self.client.get(REFUSED_URL, name="/refused")

    @task(1)
    def emfile(self):
        self.environment.events.request.fire(
            request_type="GET",
            name="/emfile",
            response_time=0,
            response_length=0,
            response=None,
            context={},
            exception=OSError(24, "Too many open files"),
        )
