"""Three real `lrctl serve --store postgresql://...` processes on one database: any replica
serves any job, tokens and the admin check hold on every one, and a WatchJob on one replica
delivers what the others commit."""
from __future__ import annotations

import pathlib
import statistics
import threading
import time
import urllib.request

import grpc
import pytest

import lrctl
from lrctl.v1 import controller_pb2, controller_pb2_grpc
from tests.security.conftest import ADMIN, token_file
from tests.support.replicas import start_replicas

POLICY = {"lr": 0.1, "plateau": {"metric": "val_loss", "patience": 0, "factor": 0.5}}


@pytest.fixture(scope="module")
def replicas(postgres_cluster, tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("replicas")
    servers = start_replicas(postgres_cluster.create_database(), directory, 3,
                             ["--admin-token-file", str(token_file(directory, ADMIN))])
    yield servers
    for server in servers:
        server.kill()


def clients(replicas, token: str) -> list[lrctl.Client]:
    return [lrctl.Client(r.address, token=token) for r in replicas]


def test_create_on_a_report_on_b_read_on_c(replicas) -> None:
    a, b, c = clients(replicas, ADMIN)
    job = a.create_job("abc", POLICY)
    b.job("abc").report(0, val_loss=1.0)
    decision = b.job("abc").report(1, val_loss=2.0)
    assert decision.lr == pytest.approx(0.05)
    assert c.job("abc", horizon=3).lease(2, 3).lrs == pytest.approx([0.05] * 3)
    assert c.job("abc").report(1, val_loss=2.0).version == decision.version  # a retry on another replica
    assert {j.job_id for j in a.jobs()} == {j.job_id for j in c.jobs()} >= {"abc"}
    assert job.token


def test_job_tokens_and_the_admin_check_hold_on_every_replica(replicas) -> None:
    admin_a, _, _ = clients(replicas, ADMIN)
    own = admin_a.create_job("tokens-own", POLICY)
    other = admin_a.create_job("tokens-other", POLICY)
    for replica in replicas:
        with lrctl.Client(replica.address, token=own.token) as client:
            assert client.job("tokens-own").lease(0, 1).lr == pytest.approx(0.1)
            with pytest.raises(lrctl.PermissionDenied):
                client.job("tokens-other").lease(0, 1)
            with pytest.raises(lrctl.PermissionDenied):
                client.delete_job("tokens-own")  # an operator call
        with lrctl.Client(replica.address, token="not-the-admin-token") as client:
            with pytest.raises(lrctl.Unauthenticated):
                client.job("tokens-own").lease(0, 1)
    admin_a.delete_job("tokens-own")
    for replica in replicas:  # the deleted job's token grants nothing anywhere, at once
        with lrctl.Client(replica.address, token=own.token) as client:
            with pytest.raises((lrctl.Unauthenticated, lrctl.PermissionDenied, lrctl.NotFound)):
                client.job("tokens-own").lease(0, 1)
    assert other.token


def test_a_watch_on_one_replica_delivers_what_the_others_commit(replicas) -> None:
    """The stored events first, then every event committed on A and C, in version order, on
    a WatchJob connected to B; prints the commit-to-watch latency."""
    a, b, c = clients(replicas, ADMIN)
    a.create_job("watched", {"lr": 0.1})
    for step in range(5):
        a.job("watched").report(step, val_loss=1.0)
    received: list[tuple[int, float]] = []
    done = threading.Event()

    def watch() -> None:
        for event in b.job("watched").watch():
            received.append((event.version, time.monotonic()))
            if event.version >= 6 + 2 * 50:
                done.set()
                return

    threading.Thread(target=watch, daemon=True).start()
    deadline = time.monotonic() + 10
    while len(received) < 6:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    acknowledged: dict[int, float] = {}
    for step in range(5, 105):
        writer = a if step % 2 else c
        decision = writer.job("watched").report(step, val_loss=1.0)
        acknowledged[decision.version] = time.monotonic()
        time.sleep(0.01)
    assert done.wait(10)
    assert [v for v, _ in received] == list(range(1, 107))
    lags = sorted(max(0.0, at - acknowledged[v]) for v, at in received if v in acknowledged)
    p50, p99 = statistics.median(lags), lags[int(len(lags) * 0.99) - 1]
    print(f"commit on A/C -> event on B's WatchJob: p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms")
    assert p99 < 1.0


def test_every_replica_counts_every_job_of_the_database(replicas) -> None:
    admin_a, _, _ = clients(replicas, ADMIN)
    admin_a.create_job("counted", {"lr": 0.1})
    counts = set()
    for replica in replicas:
        text = urllib.request.urlopen(replica.metrics_url, timeout=5).read().decode()
        counts.add(next(line for line in text.splitlines() if line.startswith('lrctl_jobs{state="active"}')))
    assert len(counts) == 1


def test_every_replica_serves_health_and_reflection_without_a_token(replicas) -> None:
    for replica in replicas:
        assert replica.health() == 1  # SERVING
        with grpc.insecure_channel(replica.address) as channel:
            with pytest.raises(grpc.RpcError) as refused:
                controller_pb2_grpc.ControllerStub(channel).GetJob(controller_pb2.GetJobRequest(job_id="abc"),
                                                                   timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_each_replica_needs_its_own_data_dir(postgres_cluster, replicas) -> None:
    from tests.support.server_process import ServerProcess

    second = ServerProcess(pathlib.Path(replicas[0].data_dir), ["--store", replicas[0].extra_args[1]])
    with pytest.raises(RuntimeError, match="is in use by pid"):
        second.start()

