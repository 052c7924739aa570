"""Control-plane limits (DESIGN §6): jobs, watchers per job, metrics per report, message
size. Each is RESOURCE_EXHAUSTED naming the limit and changes nothing."""
from __future__ import annotations

import time

import grpc
import pytest

import lrctl
from lrctl.v1 import controller_pb2, controller_pb2_grpc
from tests.limits.conftest import MAX_JOBS, MAX_MESSAGE_BYTES, MAX_METRICS, MAX_WATCHERS, exhausted

pytestmark = pytest.mark.usefixtures("no_jobs_left")

POLICY = {"lr": 0.1, "plateau": {"metric": "loss", "patience": 1}}


def test_job_limit_refuses_new_jobs_but_answers_replays_and_frees_on_delete(client: lrctl.Client,
                                                                            tmp_path) -> None:
    jobs = [client.create_job(f"j{i}", POLICY, idempotency_key=f"k{i}") for i in range(MAX_JOBS)]
    with pytest.raises(lrctl.LrctlError) as error:
        client.create_job("one-too-many", POLICY)
    exhausted(error, f"job limit reached: {MAX_JOBS} jobs (--max-jobs)")
    with pytest.raises(lrctl.NotFound):
        client.get_job("one-too-many")

    client.create_job("j0", POLICY, idempotency_key="k0")  # an idempotent replay is still answered
    jobs[0].export(tmp_path / "j0.npz", chunk_bytes=4096)
    with pytest.raises(lrctl.LrctlError) as error:
        client.import_job(tmp_path / "j0.npz", "imported", chunk_bytes=4096)
    exhausted(error, "job limit reached", "(--max-jobs)")
    assert sorted(job.job_id for job in client.jobs()) == ["j0", "j1", "j2"]

    client.delete_job("j1")
    client.create_job("after-delete", POLICY)
    client.delete_job("j2")
    client.import_job(tmp_path / "j0.npz", "imported", chunk_bytes=4096)


def test_metrics_per_report_limit(client: lrctl.Client) -> None:
    job = client.create_job("metrics", POLICY)
    before = job.info()
    with pytest.raises(lrctl.LrctlError) as error:
        job.report(1, {f"m{i}": 1.0 for i in range(MAX_METRICS + 1)})
    exhausted(error, f"{MAX_METRICS + 1} metrics in one report", f"limit of {MAX_METRICS} (--max-metrics-per-report)")
    after = job.info()
    assert (after.version, after.last_report_step) == (before.version, before.last_report_step)
    job.report(1, {f"m{i}": 1.0 for i in range(MAX_METRICS)})


def _watch(stub: controller_pb2_grpc.ControllerStub, job_id: str):
    """A WatchJob stream that is known to be subscribed: its first (stored) event arrived."""
    call = stub.WatchJob(controller_pb2.WatchJobRequest(job_id=job_id), timeout=30)
    assert next(call).kind == controller_pb2.EVENT_KIND_CREATED
    return call


def test_watcher_limit_and_a_cancelled_watch_frees_its_slot(client: lrctl.Client) -> None:
    job = client.create_job("watched", POLICY)
    stub = controller_pb2_grpc.ControllerStub(client.channel)
    watchers = [_watch(stub, "watched") for _ in range(MAX_WATCHERS)]
    with pytest.raises(lrctl.LrctlError) as error:
        next(iter(job.watch(timeout=5)))
    exhausted(error, f"watcher limit reached: {MAX_WATCHERS} WatchJob streams", "(--max-watchers-per-job)")

    watchers.pop().cancel()
    deadline = time.monotonic() + 5
    while True:
        try:
            watchers.append(_watch(stub, "watched"))
            break
        except grpc.RpcError as refused:
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert time.monotonic() < deadline, "the cancelled watch still holds its slot"
            time.sleep(0.05)
    job.report(1, loss=1.0)
    assert all(next(call).kind == controller_pb2.EVENT_KIND_METRICS for call in watchers), \
        "the remaining watchers still get events"
    client.delete_job("watched")
    for call in watchers:
        assert list(call) == []  # the job is gone: every stream ends


def test_message_size_limit_is_enforced_by_grpc_and_names_the_size(client: lrctl.Client) -> None:
    stub = controller_pb2_grpc.DiagnosticsStub(client.channel)
    assert stub.Echo(controller_pb2.EchoMessage(payload=b"x" * (MAX_MESSAGE_BYTES // 2)), timeout=10).payload
    with pytest.raises(grpc.RpcError) as error:
        stub.Echo(controller_pb2.EchoMessage(payload=b"x" * (MAX_MESSAGE_BYTES + 1)), timeout=10)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(MAX_MESSAGE_BYTES) in error.value.details(), error.value.details()
