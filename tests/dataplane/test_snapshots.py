"""Durability of the data plane (DESIGN §5): snapshots every N steps and at graceful shutdown,
written atomically; after a crash a job resumes from its last snapshot and says its step."""
from __future__ import annotations

import pathlib
import threading

import numpy as np
import pytest

import lrctl
from tests.support.server_process import ServerProcess

SHAPES = {"table": (500, 64), "dense": (256, 256), "bias": (256,)}
OPTIMIZER = {"adamw": {"weight_decay": 0.01}}
POLICY = {"lr": 0.01, "warmup": {"steps": 5}}


def initial() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def grads(step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1000 + step)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def snapshot_files(data_dir: pathlib.Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "snapshots").iterdir())


def assert_params_equal(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> None:
    assert list(ours) == list(theirs)
    for name in theirs:
        np.testing.assert_array_equal(ours[name], theirs[name])


def test_sigkill_resumes_from_the_last_snapshot(tmp_path: pathlib.Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        with lrctl.Client(server.address) as client:
            job = client.create_job("crash", POLICY, optimizer={**OPTIMIZER, "snapshot_every_steps": 5})
            job.init_params(initial())
            replies = {0: initial()}
            for step in range(13):
                replies[step + 1] = job.step(step, grads(step)).params
        server.kill()
        assert snapshot_files(tmp_path) == ["crash.npz"], "one complete file, no temporary left behind"

        server = ServerProcess(tmp_path).start()
        with lrctl.Client(server.address) as client:
            job = client.job("crash")
            with pytest.raises(lrctl.FailedPrecondition) as error:
                job.step(13, grads(13))
            assert error.value.server_step == 10
            step, params = job.pull()
            assert step == 10
            assert_params_equal(params, replies[10])
            for step in range(10, 13):
                again = job.step(step, grads(step)).params
                assert_params_equal(again, replies[step + 1])  # optimizer state came back too
    finally:
        server.kill()


def test_sigkill_during_steps_never_leaves_a_torn_snapshot(tmp_path: pathlib.Path) -> None:
    server = ServerProcess(tmp_path).start()
    replies: dict[int, dict[str, np.ndarray]] = {0: initial()}
    stop = threading.Event()
    try:
        with lrctl.Client(server.address) as client:
            job = client.create_job("busy", POLICY, optimizer={**OPTIMIZER, "snapshot_every_steps": 2})
            job.init_params(initial())

            def train() -> None:
                for step in range(10_000):
                    try:
                        replies[step + 1] = job.step(step, grads(step)).params
                    except lrctl.LrctlError:
                        return
                    if step >= 6:
                        stop.set()

            thread = threading.Thread(target=train)
            thread.start()
            stop.wait(30)
            server.kill()
            thread.join(30)
        assert snapshot_files(tmp_path) == ["busy.npz"]

        server = ServerProcess(tmp_path).start()
        with lrctl.Client(server.address) as client:
            step, params = client.job("busy").pull()
        assert step % 2 == 0 and 6 <= step <= max(replies) + 1
        if step in replies:  # else the step in flight was snapshotted before its reply was sent
            assert_params_equal(params, replies[step])
    finally:
        server.kill()


def test_sigterm_writes_a_snapshot(tmp_path: pathlib.Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        with lrctl.Client(server.address) as client:
            job = client.create_job("graceful", POLICY, optimizer={**OPTIMIZER, "snapshot_every_steps": 0})
            job.init_params(initial())
            for step in range(7):
                last = job.step(step, grads(step)).params
        assert server.terminate() == 0
        with np.load(tmp_path / "snapshots" / "graceful.npz", allow_pickle=False) as snapshot:
            assert {"params", "state.exp_avg", "state.exp_avg_sq", "meta"} <= set(snapshot.files)

        server = ServerProcess(tmp_path).start()
        with lrctl.Client(server.address) as client:
            step, params = client.job("graceful").pull()
        assert step == 7
        assert_params_equal(params, last)
    finally:
        server.kill()


def test_delete_removes_the_snapshot_and_a_new_job_starts_clean(tmp_path: pathlib.Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        with lrctl.Client(server.address) as client:
            job = client.create_job("reused", POLICY, optimizer=OPTIMIZER)
            job.init_params(initial())
            job.step(0, grads(0))
            client.delete_job("reused")
            assert snapshot_files(tmp_path) == []
            again = client.create_job("reused", POLICY, optimizer=OPTIMIZER)
            with pytest.raises(lrctl.FailedPrecondition, match="upload"):
                again.pull()
    finally:
        server.kill()
