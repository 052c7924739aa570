"""What only the SQLite store has: its file, its migrations, and group commit's internals."""
from __future__ import annotations

import json
import pathlib
import sqlite3

import pytest

from lrctl.server.errors import FailedPrecondition, InvalidArgument
from lrctl.server.store import SCHEMA_VERSION, open_store
from lrctl.server.store.sqlite_store import MIGRATIONS, SqliteStore, _Write


def test_the_default_url_is_the_file_lrctl_always_used(tmp_path: pathlib.Path) -> None:
    from lrctl.server.store import default_store_url

    assert default_store_url("./lrctl-data") == "sqlite:///lrctl-data/lrctl.sqlite"
    store = open_store(default_store_url(str(tmp_path)))
    assert store.path == tmp_path / "lrctl.sqlite"
    with pytest.raises(InvalidArgument, match="unsupported store URL 'mysql://x'"):
        open_store("mysql://x")


def test_a_database_from_before_schema_versions_upgrades_in_place(tmp_path: pathlib.Path) -> None:
    legacy = sqlite3.connect(tmp_path / "lrctl.sqlite")
    legacy.execute("CREATE TABLE jobs (job_id TEXT PRIMARY KEY, spec_json TEXT NOT NULL, idempotency_key TEXT "
                   "NOT NULL, state TEXT NOT NULL, state_json TEXT NOT NULL, version INTEGER NOT NULL, "
                   "policy_version INTEGER NOT NULL, skipped_nonfinite_metrics INTEGER NOT NULL, "
                   "create_time REAL NOT NULL, update_time REAL NOT NULL) WITHOUT ROWID")
    legacy.execute("INSERT INTO jobs VALUES ('old', '{}', '', 'active', '{}', 1, 1, 0, 1.0, 1.0)")
    legacy.commit()
    legacy.close()
    store = SqliteStore(tmp_path / "lrctl.sqlite")
    assert store.schema_version() == SCHEMA_VERSION and store.load_job("old").version == 1
    assert store.add_job_token("old", "h") and store.job_of_token("h") == "old"


def test_a_version_1_database_upgrades_and_its_events_read_back_as_single_occurrences(tmp_path) -> None:
    old = sqlite3.connect(tmp_path / "lrctl.sqlite")
    old.executescript(MIGRATIONS[0])
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    old.execute("INSERT INTO schema_version VALUES (1)")
    old.execute("INSERT INTO jobs VALUES ('old', '{}', '', 'active', '{}', 1, 1, 0, 1.0, 1.0)")
    old.execute("INSERT INTO events VALUES ('old', 1, 'restart', 40, 0.1, '', 1.0, '{}')")
    old.commit()
    old.close()
    store = SqliteStore(tmp_path / "lrctl.sqlite")
    assert store.schema_version() == SCHEMA_VERSION
    [event] = store.list_events("old", 0, 10)
    assert (event.step, event.count, event.first_step) == (40, 1, None)


def test_a_version_2_database_moves_its_scale_histories_into_rows(tmp_path) -> None:
    old = sqlite3.connect(tmp_path / "lrctl.sqlite")
    old.executescript(MIGRATIONS[0] + MIGRATIONS[1])
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    old.execute("INSERT INTO schema_version VALUES (2)")
    state = '{"plateau": {"best": 1.5, "scales": [[5, 0.5], [9007199254740993, 0.1]]}, "last_report_step": 7}'
    old.execute("INSERT INTO jobs VALUES ('old', '{}', '', 'active', ?, 1, 1, 0, 1.0, 1.0)", (state,))
    old.execute("INSERT INTO jobs VALUES ('plain', '{}', '', 'active', '{}', 1, 1, 0, 1.0, 1.0)")
    old.commit()
    old.close()
    store = SqliteStore(tmp_path / "lrctl.sqlite")
    assert store.schema_version() == SCHEMA_VERSION
    moved = store.load_job("old")
    assert moved.scales == ((5, 0.5), (9007199254740993, 0.1))
    assert json.loads(moved.state_json) == {"plateau": {"best": 1.5}, "last_report_step": 7}
    assert store.load_job("plain").scales == ()


def test_a_version_3_database_upgrades_with_its_jobs_unowned(tmp_path) -> None:
    """Migration 4 adds the data-plane owners: a job from before has none until it is claimed."""
    old = sqlite3.connect(tmp_path / "lrctl.sqlite")
    old.executescript(MIGRATIONS[0] + MIGRATIONS[1] + MIGRATIONS[2])
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    old.execute("INSERT INTO schema_version VALUES (3)")
    old.execute("INSERT INTO jobs VALUES ('old', '{}', '', 'active', '{}', 1, 1, 0, 1.0, 1.0)")
    old.commit()
    old.close()
    store = SqliteStore(tmp_path / "lrctl.sqlite")
    assert store.schema_version() == SCHEMA_VERSION
    assert store.load_owner("old", 1.0) is None
    store.register_replica("r1", "a:1")
    claimed = store.claim_owner("old", 1.0, "r1")
    assert (claimed.replica_id, claimed.epoch, claimed.snapshot_step, claimed.address) == ("r1", 1, -1, "a:1")


def test_a_schema_newer_than_this_server_knows_is_refused(tmp_path: pathlib.Path) -> None:
    SqliteStore(tmp_path / "lrctl.sqlite").close()
    newer = sqlite3.connect(tmp_path / "lrctl.sqlite")
    newer.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    newer.commit()
    newer.close()
    with pytest.raises(FailedPrecondition, match=f"has schema version {SCHEMA_VERSION + 1}, newer than the "
                                                 f"{SCHEMA_VERSION} this lrctl knows"):
        SqliteStore(tmp_path / "lrctl.sqlite")


def test_a_write_refused_for_its_content_fails_alone_in_its_group_commit(tmp_path: pathlib.Path) -> None:
    """Writes committed together: one SQLite cannot bind (an integer over 64 bits) fails alone,
    as INVALID_ARGUMENT, the others are durable, and nothing is left open on the connection."""
    def report(job_id: str, step: int):
        return lambda db: db.execute("INSERT INTO reports VALUES (?,?,?,?,?)", (job_id, step, 0.1, 0, 1))

    store = SqliteStore(tmp_path / "lrctl.sqlite")
    good = [_Write(report(f"job-{n}", n)) for n in range(2)]
    bad = _Write(report("job-x", 2**64))
    store._commit([good[0], bad, good[1]])
    assert all(w.done for w in (*good, bad)) and isinstance(bad.error, InvalidArgument)
    assert good[0].error is None and good[1].error is None
    store.close()
    reopened = SqliteStore(tmp_path / "lrctl.sqlite")
    assert reopened.load_report("job-0", 0) is not None and reopened.load_report("job-1", 1) is not None
    assert reopened.load_report("job-x", 0) is None
