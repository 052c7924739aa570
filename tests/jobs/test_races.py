"""Deletes are final and concurrent writers never overwrite each other, shown at the racy
point itself: a call is held at a named pause point (lrctl.server.pause_points) while the
rival call runs to completion, then released. No sleeps: each interleaving is exact."""
from __future__ import annotations

import pathlib
import threading
from typing import Callable

import numpy as np
import pytest

from lrctl.policy import to_policy
from lrctl.optimizer import to_optimizer_spec
from lrctl.server.backends import select_backend
from lrctl.server.dataplane import DataPlane, ReplyOptions, SnapshotStore
from lrctl.server.dataplane.chunks import Chunk
from lrctl.server.dataplane.ownership import Ownership
from lrctl.server.errors import NotFound
from lrctl.server.jobs import JobRegistry
from lrctl.server.metrics import ServerMetrics
from lrctl.server.policies import Override
from lrctl.server.service.job_codec import spec_from_document, spec_from_proto
from lrctl.server.store import open_store
from lrctl.v1 import controller_pb2

POLICY = {"lr": 0.1, "plateau": {"metric": "loss", "patience": 0, "factor": 0.5}}


class Pause:
    """A pause function for one named point: once armed, the first call that reaches the
    point waits there until `release()`; `reached` says it got there."""

    def __init__(self, point: str) -> None:
        self.point = point
        self.reached, self._released = threading.Event(), threading.Event()
        self._armed = False

    def arm(self) -> None:
        self._armed = True

    def __call__(self, point: str) -> None:
        if point == self.point and self._armed:
            self._armed = False
            self.reached.set()
            assert self._released.wait(10), f"never released from {point}"

    def release(self) -> None:
        self._released.set()


def spec(policy: dict = POLICY, optimizer: dict | None = None):
    message = controller_pb2.JobSpec(policy=to_policy(policy))
    if optimizer is not None:
        message.optimizer.CopyFrom(to_optimizer_spec(optimizer))
    return spec_from_proto(message)


def registry(path: pathlib.Path, pause: Callable[[str], None] = lambda point: None) -> JobRegistry:
    return JobRegistry(open_store(f"sqlite:///{path}/lrctl.sqlite"), spec_from_document, ServerMetrics(),
                       pause=pause)


def held(pause: Pause, call: Callable[[], object]) -> tuple[threading.Thread, list]:
    """Runs `call` on a thread until it reaches the (now armed) pause point; its outcome lands
    in the list."""
    pause.arm()
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    assert pause.reached.wait(10), f"the call never reached {pause.point}"
    return thread, outcome


CHANGES = {
    "report": lambda jobs: jobs.report("job", 3, {"loss": 1.0}),
    "override": lambda jobs: jobs.set_override("job", Override(lr=0.5, scale=None, reason="pin")),
    "clear_override": lambda jobs: jobs.clear_override("job", "unpin"),
    "policy_update": lambda jobs: jobs.update_policy("job", spec({"lr": 0.2}), 0, "retune"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_that_found_its_job_before_a_delete_does_not_bring_it_back(tmp_path: pathlib.Path,
                                                                           change: str) -> None:
    """The change has its job in hand but not its lock when the delete runs to the end."""
    pause = Pause("mutate.unlocked")
    jobs = registry(tmp_path, pause)
    jobs.create("job", spec())
    jobs.set_override("job", Override(lr=0.3, scale=None, reason="so clear_override has work"))
    thread, outcome = held(pause, lambda: CHANGES[change](jobs))
    jobs.delete("job")
    pause.release()
    thread.join(10)
    assert isinstance(outcome[0], NotFound), outcome
    with pytest.raises(NotFound):
        jobs.get("job")
    fresh = registry(tmp_path)  # what the store holds, as a restarted server sees it
    with pytest.raises(NotFound):
        fresh.get("job")
    assert fresh.counts() == {}


def test_a_change_that_lost_its_compare_and_swap_is_recomputed_from_the_stored_job(tmp_path: pathlib.Path) -> None:
    """Two registries on one store (two replicas): A holds a report with the job's version in
    hand while B changes the job; A's write loses the swap, rereads, and applies on top."""
    pause = Pause("mutate.locked")
    first, second = registry(tmp_path, pause), None
    first.create("job", spec())
    second = registry(tmp_path)
    second.get("job")
    thread, outcome = held(pause, lambda: first.report("job", 5, {"loss": 2.0}))
    second.report("job", 3, {"loss": 1.0})
    pause.release()
    thread.join(10)
    decision = outcome[0]
    view = registry(tmp_path).get("job")
    assert decision.version == view.version == 3, "both reports are in, one after the other"
    assert view.state.last_report_step == 5 and view.state.plateau.best == 1.0
    assert view.state.plateau.reductions == 1, "the second report (worse, patience 0) reduced on top of the first"
    kinds = [event.kind for event in registry(tmp_path).events("job", 0, 100)]
    assert kinds == ["created", "metrics", "reduced"]


def test_a_delete_from_another_replica_ends_a_change_of_the_cached_job(tmp_path: pathlib.Path) -> None:
    first, second = registry(tmp_path), registry(tmp_path)
    first.create("job", spec())
    second.get("job")  # cached there
    first.delete("job")
    with pytest.raises(NotFound):
        second.report("job", 1, {"loss": 1.0})
    with pytest.raises(NotFound):
        second.get("job")
    with pytest.raises(NotFound):
        registry(tmp_path).get("job")


def test_a_step_that_found_a_deleted_job_never_reaches_the_new_job_of_that_id(tmp_path: pathlib.Path) -> None:
    """The step has the job's view (old incarnation) but not its arrays when the job is deleted,
    created again and given parameters: the step is refused and the new job's arrays and
    snapshot are its own."""
    pause = Pause("dataplane.found")
    store = open_store(f"sqlite:///{tmp_path}/lrctl.sqlite")
    jobs = JobRegistry(store, spec_from_document, ServerMetrics(), pause=pause)
    plane = DataPlane(jobs, select_backend("cpu"), SnapshotStore(tmp_path / "snapshots"), ServerMetrics(),
                      Ownership(store, "the-only-replica"), pause=pause)
    optimizer = {"sgd": {}, "snapshot_every_steps": 1}

    def upload(value: float) -> None:
        upload = plane.begin_upload("job")
        upload.add(Chunk("w", (4,), "float32", 0, np.full(4, value, "<f4").tobytes()))
        plane.finish_upload(upload)

    def step() -> object:
        step_input = plane.steps.begin("job", 0, 0, ReplyOptions())
        step_input.add(Chunk("w", (4,), "float32", 0, np.ones(4, "<f4").tobytes()))
        try:
            return plane.steps.contribute(step_input).collector.done.result(10)
        finally:
            plane.steps.end(step_input)

    jobs.create("job", spec(optimizer=optimizer))
    upload(1.0)
    thread, outcome = held(pause, step)
    jobs.delete("job")
    jobs.create("job", spec(optimizer=optimizer))
    upload(7.0)
    pause.release()
    thread.join(10)
    assert isinstance(outcome[0], NotFound), outcome
    info, chunks = plane.pull("job", options=ReplyOptions())
    assert info.server_step == 0 and np.frombuffer(bytes(next(chunks).data), "<f4").tolist() == [7.0] * 4
    arrays, meta = SnapshotStore(tmp_path / "snapshots").read("job")
    assert meta["next_step"] == 0 and arrays["params"].tolist() == [7.0] * 4
