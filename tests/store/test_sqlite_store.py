"""SqliteStore: atomic, durable writes; group commit keeps each caller's write separate."""
from __future__ import annotations

import pathlib
import threading

import pytest

from lrctl.server.errors import AlreadyExists
from lrctl.server.store import EventRecord, JobRecord, MetricRecord, ReportRecord, SqliteStore


def job(job_id: str, version: int = 1) -> JobRecord:
    return JobRecord(job_id, "{}", "", "active", "{}", version, 1, 0, 1.0, 1.0)


def test_round_trip_and_history(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path)
    store.insert_job(job("a"), [EventRecord("a", 1, "created", 0, 0.1, "", 1.0)])
    store.update_job(job("a", 2), events=[EventRecord("a", 2, "reduced", 5, 0.05, "", 2.0, '{"val_loss": 1.0}')],
                     metrics=[MetricRecord("a", 5, "val_loss", 1.0)], report=ReportRecord("a", 5, 0.05, False, 2))
    store.close()
    store = SqliteStore(tmp_path)
    assert store.load_job("a") == job("a", 2)
    assert [e.kind for e in store.list_events("a", 0, 10)] == ["created", "reduced"]
    assert store.metric_names("a", 5) == {"val_loss"}
    assert store.load_report("a", 5) == ReportRecord("a", 5, 0.05, False, 2)
    assert store.delete_job("a") and store.load_job("a") is None and store.list_events("a", 0, 10) == []


def test_concurrent_writers_commit_together_and_fail_alone(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path)
    store.insert_job(job("taken"), [])
    errors: list[Exception] = []

    def insert(job_id: str) -> None:
        try:
            store.insert_job(job(job_id), [EventRecord(job_id, 1, "created", 0, 0.1, "", 1.0)])
        except AlreadyExists as exc:
            errors.append(exc)

    threads = [threading.Thread(target=insert, args=(f"job-{i}" if i % 10 else "taken",)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 10
    assert store.count_jobs() == {"active": 91}
    assert all(len(store.list_events(f"job-{i}", 0, 5)) == 1 for i in range(100) if i % 10)


def test_duplicate_insert_writes_none_of_its_statements(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path)
    store.insert_job(job("a"), [])
    with pytest.raises(AlreadyExists):
        store.insert_job(job("a", 7), [EventRecord("a", 1, "created", 0, 0.1, "", 1.0)])
    assert store.load_job("a").version == 1 and store.list_events("a", 0, 5) == []
