"""SIGKILL in the middle of concurrent control-plane and data-plane load (DESIGN §5).

Everything the control plane acknowledged survives; every data-plane job comes back exactly
at a snapshot the client saw (or the one its in-flight step wrote), never torn, and resumes
with one call.
"""
from __future__ import annotations

import json
import pathlib
import time

import numpy as np
import pytest

import lrctl
from tests.faults._support import (
    CONTROL_POLICY,
    DATA_POLICY,
    OPTIMIZERS,
    SHAPES,
    Reporter,
    Trainer,
    assert_params_equal,
    grads,
    initial,
    snapshot_files,
    wait_for,
)
from tests.support.server_process import ServerProcess

CONTROL_JOBS = 12
REPORTERS = 4
SNAPSHOT_EVERY = 5
LOAD_SECONDS = 2.0


def start_load(address: str) -> tuple[list[Trainer], list[Reporter]]:
    with lrctl.Client(address) as client:
        for n in range(CONTROL_JOBS):
            client.create_job(f"control-{n}", CONTROL_POLICY)
        for n, optimizer in enumerate(OPTIMIZERS):
            job = client.create_job(f"data-{n}", DATA_POLICY,
                                    optimizer={**optimizer, "snapshot_every_steps": SNAPSHOT_EVERY})
            job.init_params(initial(n))
    trainers = [Trainer(address, f"data-{n}", seed=n) for n in range(len(OPTIMIZERS))]
    reporters = [Reporter(address, [f"control-{n}" for n in range(r, CONTROL_JOBS, REPORTERS)])
                 for r in range(REPORTERS)]
    for thread in (*trainers, *reporters):
        thread.start()
    return trainers, reporters


def read_snapshot_files(data_dir: pathlib.Path) -> dict[str, tuple[int, bytes]]:
    """Every snapshot file is a complete archive; returns each job's (next step, parameter bytes)."""
    snapshots = {}
    for path in snapshot_files(data_dir):
        if path.name.startswith("."):
            continue  # a temporary file the kill interrupted: the server removes it at start
        with np.load(path, allow_pickle=False) as archive:
            assert {"params", "meta"} <= set(archive.files), path.name
            meta = json.loads(str(archive["meta"]))
            assert archive["params"].size == sum(int(np.prod(s)) for s in SHAPES.values())
            snapshots[path.stem] = meta["next_step"], archive["params"].tobytes()
    return snapshots


def check_control_job(client: lrctl.Client, job_id: str, job_index: int, acked: dict[int, lrctl.Decision]) -> None:
    """The server has at least what was acknowledged: replaying every acknowledged report
    returns its original decision (from the durable report record) and changes nothing."""
    job = client.job(job_id)
    info = job.info()
    last = max(acked)
    assert last <= info.last_report_step <= last + 1, f"{job_id}: acknowledged step {last} lost"
    assert info.version >= acked[last].version
    stored = {e.version: e for e in job.events()}
    for step, decision in acked.items():
        for event in decision.events:
            assert stored[event.version] == event, f"{job_id}: event of step {step} lost or changed"
        replay = job.report(step, Reporter.metrics(job_index, step))
        assert set(replay.duplicate_metrics) == {"loss", "acc"}, f"{job_id}: metrics of step {step} lost"
        assert (replay.lr, replay.version, replay.should_stop) == (decision.lr, decision.version,
                                                                   decision.should_stop)
    assert job.info() == info, "replayed reports changed nothing"


def check_data_job(job: lrctl.Job, trainer: Trainer, snapshot: tuple[int, bytes], resume_with_pull: bool) -> None:
    """The job restarts at its last snapshot; one call tells the client where; training goes on."""
    seed, first_new = trainer.seed, trainer.acked + 1
    snapshot_step, snapshot_params = snapshot
    if resume_with_pull:
        server_step, params = job.pull()
        next_step = server_step
        assert np.concatenate([params[name].reshape(-1) for name in SHAPES]).tobytes() == snapshot_params
        if server_step in trainer.replies:  # else the step in flight wrote it: its reply never came
            assert_params_equal(params, trainer.replies[server_step])
    else:
        try:
            first = job.step(first_new, grads(seed, first_new))
        except lrctl.FailedPrecondition as conflict:
            server_step = next_step = conflict.server_step
        else:  # the server was at first_new, or one further (the step in flight was applied)
            server_step = first_new + int(first.duplicate)
            next_step = first_new + 1
    assert server_step == snapshot_step, "the server resumed from its snapshot file"
    assert server_step % SNAPSHOT_EVERY == 0
    lowest = first_new // SNAPSHOT_EVERY * SNAPSHOT_EVERY  # written before the last acknowledged reply
    assert lowest <= server_step <= trainer.sent + 1, (trainer.acked, trainer.sent, server_step)
    for step in range(next_step, next_step + 3):
        result = job.step(step, grads(seed, step))
        assert not result.duplicate
        again = result.params
        if step + 1 in trainer.replies:  # the restored optimizer state reproduces the original step
            assert_params_equal(again, trainer.replies[step + 1])


@pytest.mark.timeout(120)
def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path: pathlib.Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        trainers, reporters = start_load(server.address)
        wait_for(lambda: all(t.acked >= SNAPSHOT_EVERY for t in trainers), 60, "every trainer past a snapshot")
        time.sleep(LOAD_SECONDS)
        assert all(t.error is None for t in trainers) and all(r.error is None for r in reporters)
        server.kill()
        for thread in (*trainers, *reporters):
            thread.join(30)
            assert not thread.is_alive()
        snapshots = read_snapshot_files(tmp_path)

        server = ServerProcess(tmp_path).start()
        assert not [p for p in snapshot_files(tmp_path) if p.name.startswith(".")], "temporary files removed"
        with lrctl.Client(server.address) as client:
            for r, reporter in enumerate(reporters):
                for k, (job_id, acked) in enumerate(reporter.acked.items()):
                    check_control_job(client, job_id, k, acked)
            for n, trainer in enumerate(trainers):
                check_data_job(client.job(trainer.job_id), trainer, snapshots[trainer.job_id],
                               resume_with_pull=n == 0)
        assert sum(len(a) for r in reporters for a in r.acked.values()) > 100, "the load really ran"
    finally:
        server.kill()
