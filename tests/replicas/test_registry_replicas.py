"""Replicas at the jobs layer: several JobRegistry objects, each on its own handle of one
PostgreSQL database, are what several `lrctl serve --store postgresql://...` processes are
(tests/replicas/test_replica_servers.py runs those)."""
from __future__ import annotations

import random
import threading
import time

import pytest

from lrctl.policy import to_policy
from lrctl.server import policies
from lrctl.server.errors import FailedPrecondition, NotFound
from lrctl.server.jobs import JobRegistry
from lrctl.server.jobs.freshness import STALENESS_BOUND_SECONDS
from lrctl.server.metrics import ServerMetrics
from lrctl.server.service.job_codec import spec_from_document, spec_from_proto
from lrctl.server.store import open_store
from lrctl.v1 import controller_pb2

POLICY = {"lr": 0.1, "plateau": {"metric": "val_loss", "patience": 1, "factor": 0.5, "cooldown": 1},
          "early_stopping": {"metric": "val_loss", "patience": 12}}


def spec(policy: dict = POLICY):
    return spec_from_proto(controller_pb2.JobSpec(policy=to_policy(policy)))


def loss(step: int) -> float:
    """Improves, then plateaus with noise: reductions, and an early stop near the end."""
    return max(1.0 / (1 + step), 0.2) + 0.01 * ((step * 7919) % 5)


@pytest.fixture
def replicas(postgres_cluster):
    """Three registries on one fresh database."""
    url = postgres_cluster.create_database()
    stores = [open_store(url) for _ in range(3)]
    registries = [JobRegistry(store, spec_from_document, ServerMetrics()) for store in stores]
    for store in stores:
        deadline = time.monotonic() + 10
        while store.sync_point().as_of == float("-inf"):
            assert time.monotonic() < deadline, "the change feed never connected"
            time.sleep(0.01)
    yield registries
    for store in stores:
        store.close()


def wait_until(condition, timeout: float) -> float:
    """Seconds until `condition()` held; fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"not within {timeout} s"
        time.sleep(0.002)
    return time.monotonic() - start


def test_create_on_one_report_on_another_read_on_a_third(replicas) -> None:
    a, b, c = replicas
    a.create("run", spec())
    assert c.get("run").version == 1  # loaded lazily from the store
    decision = b.report("run", 0, {"val_loss": 1.0})
    decision = b.report("run", 1, {"val_loss": 2.0})
    decision = b.report("run", 2, {"val_loss": 2.0})
    assert decision.lr == pytest.approx(0.05)
    wait_until(lambda: c.get("run").version == decision.version, timeout=STALENESS_BOUND_SECONDS)
    lrs, view = c.learning_rates("run", 3, 4)
    assert view.version == decision.version and lrs.tolist() == pytest.approx([0.05] * 4)
    assert a.report("run", 2, {"val_loss": 2.0}).version == decision.version  # idempotent on (job, step, metric)


def test_ranks_reporting_through_every_replica_lose_nothing_and_agree(replicas) -> None:
    """12 ranks report the same val_loss at each of 30 steps (360 concurrent reports), each
    rank through one of three replicas: every rank gets the same decision for a step, and the
    job ends in the state a serial replay of the 30 reports gives."""
    replicas[0].create("ddp", spec())
    ranks, steps = 12, 30
    decisions: dict[tuple[int, int], tuple] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(ranks)

    def rank(n: int) -> None:
        registry, rng = replicas[n % 3], random.Random(n)
        start.wait()
        try:
            for step in range(steps):
                d = registry.report("ddp", step, {"val_loss": loss(step)})
                decisions[(n, step)] = (d.lr, d.should_stop, d.version)
                time.sleep(rng.random() * 0.002)
        except BaseException as error:  # noqa: BLE001 - the test reports it
            errors.append(error)

    threads = [threading.Thread(target=rank, args=(n,)) for n in range(ranks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    state, replayed = policies.initial_state(spec().policy), []
    for step in range(steps):
        state, _ = policies.observe(spec().policy, state, step, {"val_loss": loss(step)})
        replayed.append((policies.lr_at_step(spec().policy, state, step), state.early_stopping.should_stop))
    for step in range(steps):
        answers = {decisions[(n, step)] for n in range(ranks)}
        assert len(answers) == 1, f"step {step}: ranks got different decisions {answers}"
        lr, should_stop, _ = answers.pop()
        assert (lr, should_stop) == pytest.approx(replayed[step])
    stored = replicas[1].get("ddp")
    assert stored.state == state and stored.should_stop == state.early_stopping.should_stop
    assert min(lr for lr, _ in replayed) < 0.1 and replayed[-1][1], "the run should reduce the LR and stop early"
    events = replicas[2].events("ddp", 0, 1000)
    assert sorted({e.step for e in events if e.metrics}) == list(range(steps))


def test_independent_writers_equal_a_serial_replay_in_version_order(replicas) -> None:
    """300 reports of increasing steps race through three replicas. Each is either applied (a
    new version) or refused as stale because a later step got there first: the job ends in
    the state that replaying the applied ones in version order gives."""
    replicas[0].create("race", spec())
    applied: list[tuple[int, int, float]] = []
    refused, errors = [], []
    counter = iter(range(300))
    lock = threading.Lock()

    def writer(n: int) -> None:
        registry = replicas[n % 3]
        while True:
            with lock:
                step = next(counter, None)
            if step is None:
                return
            try:
                d = registry.report("race", step, {"val_loss": loss(step)})
                applied.append((d.version, step, loss(step)))
            except FailedPrecondition:
                refused.append(step)
            except BaseException as error:  # noqa: BLE001 - the test reports it
                errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(applied) + len(refused) == 300 and len(applied) >= 30
    state = policies.initial_state(spec().policy)
    for _, step, value in sorted(applied):
        state, _ = policies.observe(spec().policy, state, step, {"val_loss": value})
    assert replicas[2].get("race").state == state
    assert [v for v, _, _ in sorted(applied)] == sorted({v for v, _, _ in applied})  # one version each


def test_a_commit_on_one_replica_reaches_the_others_cache_at_once(replicas) -> None:
    a, b, _ = replicas
    a.create("hot", spec())
    b.get("hot")
    lags = []
    for step in range(20):
        version = a.report("hot", step, {"val_loss": loss(step)}).version
        lags.append(wait_until(lambda: (b.cached("hot") or b.get("hot")).version == version, timeout=2))
    assert sorted(lags)[len(lags) // 2] < 0.1, lags


def test_a_dropped_feed_does_not_leave_a_replica_stale_past_the_bound(postgres_cluster, replicas) -> None:
    """The feed's connection is killed and the commit lands while it reconnects."""
    a, b, _ = replicas
    a.create("drop", spec())
    assert b.get("drop").version == 1
    postgres_cluster.sql(postgres_cluster.url(b._store.url.rsplit("/", 1)[1]), "SELECT pg_terminate_backend(%s)",
                         b._store._feed.backend_pid)
    version = a.report("drop", 0, {"val_loss": 1.0}).version
    assert wait_until(lambda: b.get("drop").version == version, timeout=STALENESS_BOUND_SECONDS + 0.2) \
        <= STALENESS_BOUND_SECONDS + 0.2


def test_a_stopped_feed_does_not_leave_a_replica_stale_past_the_bound(replicas) -> None:
    """No notification at all (the feed is stopped, its sync point frozen): cached views are
    read again once they are older than the bound, so the commit shows within it."""
    a, b, _ = replicas
    a.create("quiet", spec())
    assert b.get("quiet").version == 1
    b._store._feed.close()
    time.sleep(0.05)
    version = a.report("quiet", 0, {"val_loss": 1.0}).version
    took = wait_until(lambda: b.get("quiet").version == version, timeout=STALENESS_BOUND_SECONDS + 0.3)
    assert took <= STALENESS_BOUND_SECONDS + 0.3
    assert not b.coherent()


def test_a_job_deleted_on_one_replica_is_gone_on_the_others(replicas) -> None:
    a, b, _ = replicas
    a.create("gone", spec())
    b.get("gone")
    a.delete("gone")
    wait_until(lambda: b.cached("gone") is None, timeout=STALENESS_BOUND_SECONDS)
    with pytest.raises(NotFound):
        b.get("gone")
    a.create("gone", spec({"lr": 0.3}))
    assert b.get("gone").lr_at(0) == pytest.approx(0.3)
    assert b.report("gone", 0, {"val_loss": 1.0}).version == 2
