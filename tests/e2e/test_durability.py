"""Everything the control plane acknowledged survives SIGKILL (DESIGN §5)."""
from __future__ import annotations

import pathlib
import random
import threading

import pytest

import lrctl
from tests.support.server_process import ServerProcess

POLICY = {
    "lr": 0.1,
    "warmup": {"steps": 20, "start_factor": 0.1},
    "schedule": {"cosine_restarts": {"t_0": 50, "t_mult": 1.5, "eta_min": 1e-4, "peak_decay": 0.9}},
    "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 1, "cooldown": 1},
    "early_stopping": {"metric": "val_loss", "patience": 6},
}


def snapshot(client: lrctl.Client, job_id: str) -> tuple:
    job = client.job(job_id, horizon=1)
    info = job.info()
    lrs = tuple(job.lease(0, 400).lrs)
    return (info.version, info.policy_version, info.last_report_step, info.plateau, info.early_stopping,
            info.override, info.state, lrs, tuple((e.version, e.kind, e.reason) for e in job.events()))


def test_sigkill_loses_nothing_acknowledged(tmp_path: pathlib.Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        with lrctl.Client(server.address) as client:
            rng = random.Random(7)
            for n in range(3):
                job = client.create_job(f"durable-{n}", POLICY)
                for step in range(10, 200, 10):
                    job.report(step, val_loss=1.0 + rng.random())
            client.job("durable-0").override(lr=0.02, until_step=300, reason="operator pin")
            client.job("durable-1").update_policy({**POLICY, "lr": 0.05}, reason="smaller")
            client.job("durable-1").override(scale=0.5, reason="halve")
            client.job("durable-1").clear_override(reason="restore")
            before = {f"durable-{n}": snapshot(client, f"durable-{n}") for n in range(3)}
        server.kill()

        server = ServerProcess(tmp_path).start()
        with lrctl.Client(server.address) as client:
            after = {job_id: snapshot(client, job_id) for job_id in before}
        assert after == before
        assert any(s[3].reductions for s in before.values()), "the run exercised plateau reductions"
        reasons = [e[2] for e in after["durable-1"][-1] if e[2]]
        assert reasons == ["smaller", "halve", "restore"]
    finally:
        server.kill()


def test_concurrent_callers_lose_no_update_across_a_crash(tmp_path: pathlib.Path) -> None:
    server = ServerProcess(tmp_path).start()
    acknowledged: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    try:
        with lrctl.Client(server.address) as client:
            for n in range(16):
                client.create_job(f"busy-{n}", POLICY)

        def caller(worker: int) -> None:
            with lrctl.Client(server.address, timeout=5, outage_tolerance_seconds=0) as own:
                for step in range(1, 10_000):
                    for n in range(worker, 16, 4):
                        if stop.is_set():
                            return
                        try:
                            own.job(f"busy-{n}").report(step, val_loss=1.0 / step)
                        except lrctl.LrctlError:
                            return
                        with lock:
                            acknowledged[f"busy-{n}"] = step

        threads = [threading.Thread(target=caller, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        while sum(acknowledged.values()) < 400:
            threading.Event().wait(0.05)
        server.kill()
        stop.set()
        for t in threads:
            t.join(10)

        server = ServerProcess(tmp_path).start()
        with lrctl.Client(server.address) as client:
            for job_id, step in acknowledged.items():
                info = client.job(job_id).info()
                assert info.last_report_step >= step, f"{job_id} lost acknowledged step {step}"
                assert info.last_report_step <= step + 1  # at most the one in flight at the kill
    finally:
        server.kill()


@pytest.mark.parametrize("signal_name", ["SIGTERM"])
def test_graceful_stop_reports_not_serving_and_exits_cleanly(tmp_path: pathlib.Path, signal_name: str) -> None:
    server = ServerProcess(tmp_path).start()
    with lrctl.Client(server.address) as client:
        client.create_job("graceful", POLICY).report(1, val_loss=1.0)
    assert server.terminate() == 0
    assert any("lrctl: stopped" in line for line in server.output)
    server = ServerProcess(tmp_path).start()
    try:
        with lrctl.Client(server.address) as client:
            assert client.job("graceful").info().last_report_step == 1
    finally:
        server.kill()
