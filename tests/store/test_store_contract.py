"""The store contract (server/store/base.py), run against every store implementation.

What the jobs layer relies on: writes are atomic and durable, a refused write writes nothing,
job updates are compare-and-swap on the version, a deleted job takes its history and tokens
with it, and errors are the server's own typed errors. A data-plane job has at most one owner
per incarnation, claimed once, moved only by a compare-and-swap on its epoch, and deleted with
the job.
"""
from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrctl.server.errors import AlreadyExists, FailedPrecondition, NotFound, VersionConflict
from lrctl.server.store import (SCHEMA_VERSION, EventRecord, JobRecord, JobUpdate, MetricRecord, OwnerRecord,
                                ReportRecord)


def job(job_id: str, version: int = 1, state: str = "active") -> JobRecord:
    return JobRecord(job_id, '{"policy": {}}', "key", state, "{}", version, 1, 0, 1.0, 1.0 + version)


def event(job_id: str, version: int, kind: str = "reduced") -> EventRecord:
    return EventRecord(job_id, version, kind, version * 10, 0.1 / version, "", float(version), '{"val_loss": 1.0}')


def test_a_new_store_is_at_the_current_schema_version(open_store_here) -> None:
    assert open_store_here().schema_version() == SCHEMA_VERSION


def test_jobs_and_their_history_survive_a_reopen(open_store_here) -> None:
    store = open_store_here()
    store.insert_job(job("a"), [event("a", 1, "created")], token_hash="h1")
    store.update_job(job("a", 2), expected_version=1, events=[event("a", 2)],
                     metrics=[MetricRecord("a", 5, "val_loss", 1.0)], report=ReportRecord("a", 5, 0.05, False, 2))
    store.close()
    store = open_store_here()
    assert store.load_job("a") == job("a", 2)
    assert store.list_events("a", 0, 10) == [event("a", 1, "created"), event("a", 2)]
    assert store.metric_names("a", 5) == {"val_loss"} and store.metric_names("a", 6) == set()
    assert store.load_report("a", 5) == ReportRecord("a", 5, 0.05, False, 2) and store.load_report("a", 6) is None
    assert store.job_of_token("h1") == "a"


def test_a_taken_id_is_refused_and_writes_nothing(open_store_here) -> None:
    store = open_store_here()
    store.insert_job(job("a"), [])
    with pytest.raises(AlreadyExists):
        store.insert_job(job("a", 7), [event("a", 1, "created")], token_hash="h")
    assert store.load_job("a").version == 1 and store.list_events("a", 0, 5) == []
    assert store.job_of_token("h") is None


def test_jobs_list_in_id_order_page_by_page(open_store_here) -> None:
    store = open_store_here()
    for job_id in ("c", "a", "e", "b", "d"):
        store.insert_job(job(job_id), [])
    assert [r.job_id for r in store.list_jobs("", 2)] == ["a", "b"]
    assert [r.job_id for r in store.list_jobs("b", 2)] == ["c", "d"]
    assert [r.job_id for r in store.list_jobs("d", 2)] == ["e"]
    assert store.list_jobs("e", 2) == []


def test_an_update_from_a_stale_version_is_refused_and_writes_nothing(open_store_here) -> None:
    store = open_store_here()
    store.insert_job(job("a"), [])
    store.update_job(job("a", 2), expected_version=1, events=[event("a", 2)])
    with pytest.raises(VersionConflict):
        store.update_job(job("a", 3), expected_version=1, events=[event("a", 3)],
                         metrics=[MetricRecord("a", 9, "val_loss", 2.0)], report=ReportRecord("a", 9, 0.1, True, 3))
    assert store.load_job("a").version == 2
    assert [e.version for e in store.list_events("a", 0, 10)] == [2]
    assert store.metric_names("a", 9) == set() and store.load_report("a", 9) is None


def test_an_update_of_a_deleted_job_is_not_found_and_does_not_bring_it_back(open_store_here) -> None:
    store = open_store_here()
    store.insert_job(job("a"), [], token_hash="h")
    assert store.delete_job("a")
    with pytest.raises(NotFound):
        store.update_job(job("a", 2), expected_version=1, events=[event("a", 2)])
    assert store.load_job("a") is None and store.list_events("a", 0, 10) == [] and store.count_jobs() == {}


def test_of_concurrent_writers_from_one_version_exactly_one_wins(open_store_here) -> None:
    """Two handles on the same data: what two replicas sharing one database are."""
    first, second = open_store_here(), open_store_here()
    first.insert_job(job("a"), [])
    outcomes: list[str] = []
    barrier = threading.Barrier(16)

    def write(n: int) -> None:
        store = first if n % 2 else second
        barrier.wait()
        try:
            store.update_job(job("a", 2), expected_version=1, events=[event("a", 2)])
            outcomes.append("won")
        except VersionConflict:
            outcomes.append("lost")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost"] * 15 + ["won"]
    assert [e.version for e in second.list_events("a", 0, 10)] == [2]


def test_concurrent_writers_commit_together_and_fail_alone(open_store_here) -> None:
    store = open_store_here()
    store.insert_job(job("taken"), [])
    errors: list[Exception] = []

    def insert(job_id: str) -> None:
        try:
            store.insert_job(job(job_id), [event(job_id, 1, "created")])
        except AlreadyExists as exc:
            errors.append(exc)

    threads = [threading.Thread(target=insert, args=(f"job-{i}" if i % 10 else "taken",)) for i in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 10
    assert store.count_jobs() == {"active": 91}
    assert all(len(store.list_events(f"job-{i}", 0, 5)) == 1 for i in range(100) if i % 10)


def test_delete_takes_the_history_and_the_tokens(open_store_here) -> None:
    store = open_store_here()
    store.insert_job(job("a"), [event("a", 1, "created")], token_hash="h1")
    store.update_job(job("a", 2), expected_version=1, events=[event("a", 2)],
                     metrics=[MetricRecord("a", 5, "val_loss", 1.0)], report=ReportRecord("a", 5, 0.05, False, 2))
    assert store.delete_job("a") and not store.delete_job("a")
    assert store.load_job("a") is None and store.list_events("a", 0, 10) == []
    assert store.metric_names("a", 5) == set() and store.load_report("a", 5) is None
    assert store.job_of_token("h1") is None and store.count_job_tokens("a") == 0
    store.insert_job(job("a"), [])  # the id is free again, with nothing of the old job
    assert store.list_events("a", 0, 10) == [] and store.job_of_token("h1") is None


def test_tokens_belong_to_one_existing_job(open_store_here) -> None:
    store = open_store_here()
    store.insert_job(job("a"), [], token_hash="h1")
    assert store.add_job_token("a", "h2") and store.count_job_tokens("a") == 2
    assert store.job_of_token("h1") == store.job_of_token("h2") == "a"
    assert not store.add_job_token("missing", "h3") and store.job_of_token("h3") is None


def test_events_page_by_version(open_store_here) -> None:
    store = open_store_here()
    store.insert_job(job("a"), [event("a", 1, "created")])
    for version in range(2, 12):
        store.update_job(job("a", version), expected_version=version - 1, events=[event("a", version)])
    assert [e.version for e in store.list_events("a", 0, 4)] == [1, 2, 3, 4]
    assert [e.version for e in store.list_events("a", 4, 4)] == [5, 6, 7, 8]
    assert [e.version for e in store.list_events("a", 8, 100)] == [9, 10, 11]
    assert store.list_events("a", 11, 100) == [] and store.list_events("other", 0, 100) == []


def test_jobs_count_by_state(open_store_here) -> None:
    store = open_store_here()
    store.insert_job(job("a"), [])
    store.insert_job(job("b"), [])
    store.update_job(job("b", 2, state="stopped"), expected_version=1)
    assert store.count_jobs() == {"active": 1, "stopped": 1}


def test_a_locked_update_works_from_the_current_row_and_never_loses(open_store_here) -> None:
    """Writers on two handles each add one version under the lock: none is refused, none lost,
    and a compare-and-swap writer racing them loses cleanly instead of overwriting."""
    first, second = open_store_here(), open_store_here()
    first.insert_job(job("a"), [])
    plans_seen: list[int] = []

    def plan(current: JobRecord) -> JobUpdate:
        plans_seen.append(current.version)
        return JobUpdate(job("a", current.version + 1), (event("a", current.version + 1),))

    threads = [threading.Thread(target=(first if n % 2 else second).update_job_locked, args=("a", plan))
               for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert second.load_job("a").version == 25 and sorted(plans_seen) == list(range(1, 25))
    assert [e.version for e in first.list_events("a", 0, 100)] == list(range(2, 26))
    with pytest.raises(VersionConflict):
        first.update_job(job("a", 26), expected_version=24)


def test_a_locked_update_that_plans_nothing_or_fails_writes_nothing(open_store_here) -> None:
    store = open_store_here()
    store.insert_job(job("a"), [])
    assert store.update_job_locked("a", lambda current: None) is None
    with pytest.raises(FailedPrecondition, match="refused by the plan"):
        store.update_job_locked("a", lambda current: (_ for _ in ()).throw(FailedPrecondition("refused by the plan")))
    assert store.load_job("a").version == 1 and store.list_events("a", 0, 10) == []
    with pytest.raises(NotFound):
        store.update_job_locked("missing", lambda current: JobUpdate(job("missing", 2)))


def test_a_locked_plan_reads_what_it_holds(open_store_here) -> None:
    """The plan of a report reads the job's recorded metrics (the idempotency key) from the
    store while it holds the row; it sees the last commit."""
    store = open_store_here()
    store.insert_job(job("a"), [])
    store.update_job(job("a", 2), 1, metrics=[MetricRecord("a", 3, "val_loss", 1.0)])

    def plan(current: JobRecord) -> JobUpdate | None:
        assert store.metric_names("a", 3) == {"val_loss"} and store.load_job("a") == current
        return JobUpdate(job("a", 3), metrics=(MetricRecord("a", 3, "acc", 0.5),))

    store.update_job_locked("a", plan)
    assert store.metric_names("a", 3) == {"val_loss", "acc"}



# ---- data-plane owners ---------------------------------------------------------------------
def held(owner: OwnerRecord | None) -> tuple | None:
    """What an owner record says, without the silence, which the store's clock moves on."""
    return None if owner is None else (owner.job_id, owner.create_time, owner.replica_id, owner.epoch,
                                       owner.snapshot_step, owner.address)


def test_the_first_claim_of_an_incarnation_wins_and_every_claimant_gets_it(open_store_here) -> None:
    store = open_store_here()
    store.register_replica("r1", "10.0.0.1:50051")
    store.register_replica("r2", "10.0.0.2:50051")
    store.insert_job(job("a"), [])
    won = ("a", 1.0, "r1", 1, -1, "10.0.0.1:50051")
    assert store.load_owner("a", 1.0) is None
    assert held(store.claim_owner("a", 1.0, "r1")) == won
    assert held(store.claim_owner("a", 1.0, "r2")) == won and held(store.claim_owner("a", 1.0, "r1")) == won
    assert held(store.load_owner("a", 1.0)) == won
    assert 0 <= store.load_owner("a", 1.0).silent_seconds < 60
    assert store.claim_owner("a", 2.0, "r2") is None and store.load_owner("a", 2.0) is None  # not this incarnation
    assert store.claim_owner("missing", 1.0, "r2") is None and store.load_owner("missing", 1.0) is None
    assert held(store.load_owner("a", 1.0)) == won


def test_of_concurrent_claims_on_two_handles_exactly_one_wins(open_store_here) -> None:
    """Two handles on the same data are two replicas: 16 claims at once, one owner, and every
    claimant is told the same one."""
    first, second = open_store_here(), open_store_here()
    first.insert_job(job("a"), [])
    answers: list[OwnerRecord] = []
    barrier = threading.Barrier(16)

    def claim(n: int) -> None:
        store = first if n % 2 else second
        barrier.wait()
        answers.append(store.claim_owner("a", 1.0, f"replica-{n}"))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 16 and len({held(answer) for answer in answers}) == 1
    owner = answers[0]
    assert owner.epoch == 1 and owner.replica_id.startswith("replica-")
    assert held(first.load_owner("a", 1.0)) == held(second.load_owner("a", 1.0)) == held(owner)


def test_a_change_of_owner_is_a_compare_and_swap_on_the_epoch(open_store_here) -> None:
    first, second = open_store_here(), open_store_here()
    first.register_replica("r2", "b:2")
    first.insert_job(job("a"), [])
    first.claim_owner("a", 1.0, "r1")
    first.commit_snapshot("a", 1.0, "r1", 1, 7)
    moved = ("a", 1.0, "r2", 2, 7, "b:2")
    assert held(first.move_owner("a", 1.0, 1, "r2")) == moved  # the snapshot step stays: it is the job's
    assert held(second.move_owner("a", 1.0, 1, "r3")) == moved  # epoch 1 is gone
    assert second.claim_owner("a", 1.0, "r3").replica_id == "r2"
    assert first.move_owner("missing", 1.0, 1, "r2") is None
    outcomes: list[OwnerRecord] = []
    barrier = threading.Barrier(8)

    def move(n: int) -> None:
        barrier.wait()
        outcomes.append((first if n % 2 else second).move_owner("a", 1.0, 2, f"mover-{n}"))

    threads = [threading.Thread(target=move, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [after] = {held(outcome) for outcome in outcomes}
    assert after[3] == 3 and after[2].startswith("mover-") and held(first.load_owner("a", 1.0)) == after


def test_a_snapshot_commit_is_fenced_by_the_epoch(open_store_here) -> None:
    """Only the owner at its own epoch commits a snapshot step; after a move the old owner's
    commit writes nothing and tells it who holds the job now."""
    store = open_store_here()
    store.register_replica("r1", "a:1")
    store.register_replica("r2", "b:2")
    store.insert_job(job("a"), [])
    store.claim_owner("a", 1.0, "r1")
    assert held(store.commit_snapshot("a", 1.0, "r1", 1, 10)) == ("a", 1.0, "r1", 1, 10, "a:1")
    assert held(store.commit_snapshot("a", 1.0, "r2", 1, 99)) == ("a", 1.0, "r1", 1, 10, "a:1")  # not the owner
    assert held(store.commit_snapshot("a", 1.0, "r1", 2, 99)) == ("a", 1.0, "r1", 1, 10, "a:1")  # not its epoch
    store.move_owner("a", 1.0, 1, "r2")
    assert held(store.commit_snapshot("a", 1.0, "r1", 1, 20)) == ("a", 1.0, "r2", 2, 10, "b:2")  # fenced
    assert held(store.commit_snapshot("a", 1.0, "r2", 2, 30)) == ("a", 1.0, "r2", 2, 30, "b:2")
    assert store.commit_snapshot("a", 5.0, "r2", 2, 40) is None and store.commit_snapshot("b", 1.0, "r2", 1, 1) is None
    store.close()
    assert held(open_store_here().load_owner("a", 1.0)) == ("a", 1.0, "r2", 2, 30, "b:2")


def test_the_owner_lives_and_dies_with_its_job(open_store_here) -> None:
    """An imported job is claimed in its insert; a delete takes the owner with it; the next job
    of the id starts unowned, at epoch 1 again."""
    store = open_store_here()
    store.register_replica("r1", "a:1")
    store.insert_job(job("a"), [], owner="r1")
    assert held(store.load_owner("a", 1.0)) == ("a", 1.0, "r1", 1, -1, "a:1")
    with pytest.raises(AlreadyExists):
        store.insert_job(job("a"), [], owner="r2")
    assert held(store.load_owner("a", 1.0)) == ("a", 1.0, "r1", 1, -1, "a:1")
    store.move_owner("a", 1.0, 1, "r2")
    assert store.delete_job("a")
    assert store.load_owner("a", 1.0) is None and store.claim_owner("a", 1.0, "r2") is None
    store.insert_job(replace(job("a"), create_time=5.0), [])
    assert store.load_owner("a", 5.0) is None
    unregistered = store.claim_owner("a", 5.0, "r2")
    assert held(unregistered) == ("a", 5.0, "r2", 1, -1, "") and unregistered.silent_seconds == math.inf


def test_a_replica_that_registers_again_moves_its_jobs_address_and_its_heartbeat(open_store_here) -> None:
    """A replica restarted with its data dir (its identity) on a new address: every job it owns
    now names the new one, and it survives a reopen. Registering again is its heartbeat."""
    store = open_store_here()
    store.register_replica("r1", "10.0.0.1:50051")
    store.insert_job(job("a"), [])
    store.claim_owner("a", 1.0, "r1")
    time.sleep(0.3)
    assert store.load_owner("a", 1.0).silent_seconds >= 0.25
    store.register_replica("r1", "10.0.0.9:50052")
    assert store.load_owner("a", 1.0).silent_seconds < 0.25
    store.close()
    store = open_store_here()
    assert held(store.load_owner("a", 1.0)) == ("a", 1.0, "r1", 1, -1, "10.0.0.9:50052")


EXAMPLES = itertools.count()
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
FLOAT = st.floats(allow_nan=False, allow_infinity=False, width=64)
INT = st.integers(min_value=0, max_value=2**63 - 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_what_an_update_writes_is_what_is_read_back(open_store_handle, data) -> None:
    """Any history (unicode reasons, 64-bit steps, any finite float) survives the round trip,
    on every store."""
    store, job_id = open_store_handle, f"prop-{next(EXAMPLES)}"
    store.insert_job(job(job_id), [])
    versions = data.draw(st.lists(st.integers(2, 50), min_size=0, max_size=4, unique=True))
    events = [EventRecord(job_id, v, data.draw(TEXT), data.draw(INT), data.draw(FLOAT), data.draw(TEXT),
                          data.draw(FLOAT), '{"m": 1.0}', data.draw(st.integers(1, 2**63 - 1)),
                          data.draw(st.none() | INT)) for v in sorted(versions)]
    names = data.draw(st.lists(TEXT, max_size=4, unique=True))
    step = data.draw(INT)
    metrics = [MetricRecord(job_id, step, name, data.draw(FLOAT)) for name in names]
    report = data.draw(st.none() | st.builds(ReportRecord, st.just(job_id), st.just(step), FLOAT, st.booleans(),
                                             st.just(51)))
    new = JobRecord(job_id, data.draw(TEXT), data.draw(TEXT), "active", data.draw(TEXT), 51, data.draw(INT),
                    data.draw(INT), 1.0, data.draw(FLOAT))
    store.update_job(new, 1, events=events, metrics=metrics, report=report)
    assert store.load_job(job_id) == new
    assert store.list_events(job_id, 0, 100) == events
    assert store.metric_names(job_id, step) == set(names)
    assert store.load_report(job_id, step) == report


def test_the_scale_history_is_written_entry_by_entry_and_read_back_whole(open_store_here) -> None:
    """A report writes the scale entry it adds (or replaces at the same step), not the history:
    load_job and a locked update's held row have every entry, list_jobs the latest, a refused
    update writes none, and a delete takes them."""
    store = open_store_here()
    store.insert_job(replace(job("a"), scales=((5, 0.5),)), [])
    store.update_job(job("a", 2), expected_version=1, scales=[(9, 0.25)])
    store.update_job(job("a", 3), expected_version=2, scales=[(9, 0.125), (12, 0.0625)])
    with pytest.raises(VersionConflict):
        store.update_job(job("a", 9), expected_version=2, scales=[(20, 1e-3)])
    assert store.load_job("a").scales == ((5, 0.5), (9, 0.125), (12, 0.0625))
    store.insert_job(job("b"), [])
    assert [(r.job_id, r.scales) for r in store.list_jobs("", 10)] == [("a", ((12, 0.0625),)), ("b", ())]
    held = []
    store.update_job_locked("a", lambda row: held.append(row.scales) or JobUpdate(job("a", 4), scales=((30, 2.0),)))
    assert held == [((5, 0.5), (9, 0.125), (12, 0.0625))]
    store.close()
    store = open_store_here()
    assert store.load_job("a").scales[-1] == (30, 2.0) and len(store.load_job("a").scales) == 4
    assert store.delete_job("a")
    store.insert_job(job("a"), [])
    assert store.load_job("a").scales == ()


def test_a_locked_update_that_waited_for_another_sees_the_scales_it_added(open_store_here) -> None:
    """The first locked update holds the row while the second waits for it; the second's
    plan must see the scale entry the first wrote (PostgreSQL's SELECT ... FOR UPDATE
    returns the new row after a wait, but its subqueries read the old snapshot)."""
    store = open_store_here()
    store.insert_job(job("a"), [])
    holding, release, seen = threading.Event(), threading.Event(), []

    def first(row: JobRecord) -> JobUpdate:
        holding.set()
        release.wait(10)
        return JobUpdate(job("a", 2), scales=((7, 0.5),))

    def second(row: JobRecord) -> JobUpdate:
        seen.append((row.version, row.scales))
        return JobUpdate(job("a", row.version + 1))

    one = threading.Thread(target=store.update_job_locked, args=("a", first))
    one.start()
    assert holding.wait(10)
    two = threading.Thread(target=store.update_job_locked, args=("a", second))
    two.start()
    two.join(0.3)  # it waits for the held row (time for it to get there; the assertion does not depend on it)
    release.set()
    one.join(10)
    two.join(10)
    assert seen == [(2, ((7, 0.5),))]
