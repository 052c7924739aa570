"""A training loop through an outage of its only server: lr() from the lease and then the last
known LR, reports queued and re-sent in order, Unavailable past the tolerance, and 0 keeps
the fail-fast behaviour. Real server processes, stopped with SIGKILL and started again on the
same port."""
from __future__ import annotations

import pathlib
import time

import pytest

import lrctl
from tests.support.server_process import ServerProcess

POLICY = {"lr": 0.1, "plateau": {"metric": "loss", "patience": 0, "factor": 0.5}}


def start_on(data_dir: pathlib.Path, port: str = "0") -> ServerProcess:
    """A server on `port` (the last --listen wins): a restarted one where clients dialled it."""
    return ServerProcess(data_dir, ["--listen", f"127.0.0.1:{port}"]).start()


def test_reports_queued_in_an_outage_reach_the_server_in_order(tmp_path: pathlib.Path) -> None:
    server = start_on(tmp_path)
    port = server.address.rsplit(":", 1)[1]
    try:
        with lrctl.Client(server.address, timeout=2, outage_tolerance_seconds=60) as client:
            job = client.create_job("through", POLICY, horizon=5)
            assert job.report(0, loss=1.0).lr == pytest.approx(0.1)
            assert job.lr(0) == pytest.approx(0.1)
            server.kill()
            leased = [job.lr(step) for step in range(1, 5)]  # inside the lease: no call at all
            decisions = [job.report(step, loss=2.0) for step in (1, 2)]
            held = [job.lr(step) for step in range(5, 9)]  # past the lease: the last LR
            assert leased == held == [pytest.approx(0.1)] * 4
            assert all(d.pending and d.lr == pytest.approx(0.1) for d in decisions)
            assert job.degraded.queued_reports == 2 and job.degraded.held_lr >= 4 and job.degraded.outages == 1
            server = start_on(tmp_path, port)
            job.flush(timeout=30)
            assert [e.step for e in job.events() if e.metrics] == [0, 1, 2]
            assert job.report(3, loss=2.0).lr == pytest.approx(0.1 * 0.5 ** 3)  # the queued reports counted
            deadline = time.monotonic() + 10
            while job.lr(9) != pytest.approx(0.1 * 0.5 ** 3):
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        server.kill()


def test_past_the_tolerance_the_call_raises_unavailable(tmp_path: pathlib.Path) -> None:
    server = start_on(tmp_path)
    with lrctl.Client(server.address, timeout=1, outage_tolerance_seconds=2) as client:
        job = client.create_job("tolerated", POLICY, horizon=2)
        job.lr(0)
        server.kill()
        assert job.report(1, loss=1.0).pending
        time.sleep(2.5)
        with pytest.raises(lrctl.Unavailable, match="outage_tolerance_seconds=2"):
            job.report(2, loss=1.0)
        with pytest.raises(lrctl.Unavailable, match="outage_tolerance_seconds=2"):
            job.lr(5)
        with pytest.raises(lrctl.Unavailable):
            job.flush()


def test_a_tolerance_of_zero_fails_fast(tmp_path: pathlib.Path) -> None:
    server = start_on(tmp_path)
    with lrctl.Client(server.address, timeout=1, outage_tolerance_seconds=0) as client:
        job = client.create_job("fast", POLICY, horizon=2)
        job.lr(0)
        server.kill()
        with pytest.raises(lrctl.Unavailable):
            job.report(1, loss=1.0)
        with pytest.raises(lrctl.Unavailable):
            job.lr(2)
        assert job.degraded.queued_reports == job.degraded.held_lr == 0
