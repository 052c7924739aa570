"""A deleted job stays deleted, against a real server under concurrent calls: each round
races a DeleteJob against a report, an override, a policy update and a step on the same job,
then checks that nothing of the job is left (store, arrays, snapshot) and that a job created
again under the same id starts from nothing. tests/jobs/test_races.py holds the same races
at their exact interleavings."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import lrctl
from tests.support.server_process import ServerProcess

ROUNDS = 200
POLICY = {"lr": 0.1, "plateau": {"metric": "loss", "patience": 0}}
ALLOWED = (lrctl.NotFound,)


@pytest.mark.load
@pytest.mark.timeout(300)
def test_a_job_deleted_under_concurrent_changes_stays_deleted(tmp_path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    snapshots = tmp_path / "data" / "snapshots"
    outcomes: dict[str, set[str]] = {}
    try:
        with lrctl.Client(server.address) as client:
            for round_ in range(ROUNDS):
                job_id = f"race-{round_ % 7}"  # ids come back, so incarnations meet
                job = client.create_job(job_id, POLICY, optimizer={"sgd": {}, "snapshot_every_steps": 1})
                info = job.info()
                assert info.version == 1 and not info.HasField("override"), "a new job starts from nothing"
                with pytest.raises(lrctl.FailedPrecondition):
                    job.pull()  # no arrays of an earlier job of this id
                job.init_params({"w": np.ones(8, np.float32)})
                calls = {
                    "delete": lambda: client.delete_job(job_id),
                    "report": lambda: job.report(round_ + 1, loss=1.0),
                    "override": lambda: job.override(lr=0.5, reason="race"),
                    "policy": lambda: job.update_policy({"lr": 0.2}, reason="race"),
                    "step": lambda: job.step(0, {"w": np.ones(8, np.float32)}),
                }
                barrier = threading.Barrier(len(calls))

                def run(name: str) -> None:
                    barrier.wait()
                    try:
                        calls[name]()
                        outcome = "ok"
                    except ALLOWED as error:
                        outcome = type(error).__name__
                    outcomes.setdefault(name, set()).add(outcome)

                threads = [threading.Thread(target=run, args=(name,)) for name in calls]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(30)
                with pytest.raises(lrctl.NotFound):
                    client.get_job(job_id)
                with pytest.raises(lrctl.NotFound):
                    job.pull()
                assert job_id not in {listed.job_id for listed in client.jobs()}
                assert not (snapshots / f"{job_id}.npz").exists()
    finally:
        server.kill()
    assert outcomes["delete"] == {"ok"}
    for name in ("report", "override", "policy", "step"):
        assert outcomes[name] <= {"ok", "NotFound"}, (name, outcomes[name])
    assert set().union(*(outcomes[name] for name in ("report", "override", "policy", "step"))) == {"ok", "NotFound"}, \
        "the rounds raced both ways: changes that won against the delete and changes that lost"
