"""WatchJob delivers every stored event after since_version, in order, then the live ones, with
no gap and no repeat: over 10,000 stored events, with events arriving during the replay, and
from a reconnect in the middle; the SDK's job.events() pages through all of them. Against a
real server."""
from __future__ import annotations

import threading

import grpc
import pytest

import lrctl
from lrctl.v1 import controller_pb2, controller_pb2_grpc
from tests.support.server_process import ServerProcess

STORED, DURING = 10_000, 500


def versions_until(stub, job_id: str, since: int, last: int) -> list[int]:
    seen = []
    for event in stub.WatchJob(controller_pb2.WatchJobRequest(job_id=job_id, since_version=since), timeout=120):
        seen.append(event.version)
        if event.version >= last:
            break
    return seen


@pytest.mark.load
@pytest.mark.timeout(300)
def test_every_stored_event_then_every_live_one_without_gaps_or_repeats(tmp_path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = controller_pb2_grpc.ControllerStub(channel)
            stub.CreateJob(controller_pb2.CreateJobRequest(job_id="busy", spec=controller_pb2.JobSpec(
                policy={"lr": 0.1, "plateau": {"metric": "loss", "patience": 3, "factor": 0.9}})), timeout=10)

            def report(first: int, count: int) -> None:
                for step in range(first, first + count):
                    stub.ReportMetrics(controller_pb2.ReportMetricsRequest(
                        job_id="busy", step=step, metrics={"loss": 1.0 + (step % 7) * 0.01}), timeout=10)

            report(1, STORED)
            last = stub.GetJob(controller_pb2.GetJobRequest(job_id="busy"), timeout=10).version
            assert last >= STORED + 1
            final = last + DURING  # each report below adds one event
            during = threading.Thread(target=report, args=(STORED + 1, DURING))
            watched: list[list[int]] = []
            watcher = threading.Thread(target=lambda: watched.append(versions_until(stub, "busy", 0, final)))
            watcher.start()
            during.start()  # live events arrive while the stored ones are being replayed
            during.join(240)  # bounded by the test's own timeout; a loaded machine took over 120 s here
            watcher.join(240)
            assert stub.GetJob(controller_pb2.GetJobRequest(job_id="busy"), timeout=10).version == final
            assert watched and watched[0] == list(range(1, final + 1))
            middle = last // 2
            assert versions_until(stub, "busy", middle, final) == list(range(middle + 1, final + 1))
        with lrctl.Client(server.address) as client:
            job = client.job("busy")
            assert [e.version for e in job.events()] == list(range(1, final + 1))
            assert [e.version for e in job.events(middle, page_size=7)] == list(range(middle + 1, final + 1))
    finally:
        server.kill()
