"""The store's job_tokens table: a token hash belongs to one existing job and goes with it."""
from __future__ import annotations

import sqlite3

import pytest

from lrctl.server.errors import AlreadyExists
from lrctl.server.store import JobRecord, SqliteStore


def job(job_id: str) -> JobRecord:
    return JobRecord(job_id, "{}", "", "active", "{}", 1, 1, 0, 1.0, 1.0)


def test_token_hashes_are_stored_with_their_job_and_deleted_with_it(tmp_path):
    store = SqliteStore(tmp_path)
    store.insert_job(job("a"), [], token_hash="h1")
    assert store.add_job_token("a", "h2") and store.count_job_tokens("a") == 2
    assert store.job_of_token("h1") == store.job_of_token("h2") == "a"
    assert not store.add_job_token("missing", "h3") and store.job_of_token("h3") is None
    with pytest.raises(AlreadyExists):
        store.insert_job(job("a"), [], token_hash="h4")
    assert store.job_of_token("h4") is None
    assert store.delete_job("a")
    assert store.job_of_token("h1") is None and store.count_job_tokens("a") == 0
    store.close()


def test_a_data_directory_from_before_tokens_gains_the_table(tmp_path):
    legacy = sqlite3.connect(tmp_path / "lrctl.sqlite")
    legacy.execute("CREATE TABLE jobs (job_id TEXT PRIMARY KEY, spec_json TEXT NOT NULL, idempotency_key TEXT "
                   "NOT NULL, state TEXT NOT NULL, state_json TEXT NOT NULL, version INTEGER NOT NULL, "
                   "policy_version INTEGER NOT NULL, skipped_nonfinite_metrics INTEGER NOT NULL, "
                   "create_time REAL NOT NULL, update_time REAL NOT NULL) WITHOUT ROWID")
    legacy.execute("INSERT INTO jobs VALUES ('old', '{}', '', 'active', '{}', 1, 1, 0, 1.0, 1.0)")
    legacy.commit()
    legacy.close()
    store = SqliteStore(tmp_path)
    assert store.count_job_tokens("old") == 0
    assert store.add_job_token("old", "h") and store.job_of_token("h") == "old"
    store.close()
