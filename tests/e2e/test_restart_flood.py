"""A report that jumps far ahead on a warm-restarts job is one bounded write (issue 13 item 1):
one restart event carrying the count and the first and last restart step, one version, a
small reply, and the restart counter moved by the count. Against a real server."""
from __future__ import annotations

import urllib.request
import warnings

import lrctl
from tests.support.server_process import ServerProcess


def restarts_counted(server: ServerProcess, job_id: str) -> float:
    for line in urllib.request.urlopen(server.metrics_url, timeout=5).read().decode().splitlines():
        if line.startswith(f'lrctl_schedule_restarts_total{{job_id="{job_id}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_jumps_of_a_million_restarts_and_to_2_63_are_one_event_each(tmp_path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        with lrctl.Client(server.address, outage_tolerance_seconds=0) as client, warnings.catch_warnings():
            warnings.simplefilter("ignore", lrctl.UnusedMetricWarning)  # no plateau reads "loss"
            flood = client.create_job("flood", {"lr": 0.1, "schedule": {"cosine_restarts": {"t_0": 1000}}})
            before = flood.info().version
            decision = flood.report(10**9, loss=1.0)
            [event] = decision.events
            assert (event.kind, event.count, event.first_step, event.step, event.lr) == (
                "restart", 10**6, 1000, 10**9, 0.1)
            assert decision.version == before + 1 and flood.info().version == before + 1
            assert [(e.kind, e.count) for e in flood.events(before)] == [("restart", 10**6)]
            assert restarts_counted(server, "flood") == 10**6

            every_step = client.create_job("every-step", {"lr": 0.1, "schedule": {"cosine_restarts": {"t_0": 1}}})
            [event] = every_step.report(2 * 10**6, loss=1.0).events
            assert (event.count, event.first_step) == (2 * 10**6, 1)
            [event] = every_step.report(2**62, loss=1.0).events
            assert (event.count, event.first_step, event.step) == (2**62 - 2 * 10**6, 2 * 10**6 + 1, 2**62)
            [event] = every_step.report(2**63 - 1, loss=1.0).events
            assert event.step == 2**63 - 1
            assert every_step.lease(2**63 - 1000, 1000).lrs[-1] == 0.1
            assert len(every_step.events()) == 4  # created and three restart events
    finally:
        server.kill()
