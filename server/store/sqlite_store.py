"""The embedded default store: one SQLite database (WAL) in the data directory.

synchronous=FULL is what makes a commit durable in WAL mode before we reply; NORMAL
would lose the last transactions on power loss. A durable commit costs an fsync
(~150 µs here), so concurrent writers share it: group commit, leader/follower style.
Each write queues itself; whoever holds the connection next commits everything queued
in one transaction, each write in its own savepoint so one refused write (a duplicate
job id) does not fail the others. A lone caller pays nothing extra.
"""
from __future__ import annotations

import logging
import pathlib
import sqlite3
import threading
from dataclasses import dataclass
from typing import Iterable

from lrctl.server.errors import AlreadyExists, LrctlError, Unavailable
from lrctl.server.store.failures import storage_error
from lrctl.server.store.records import EventRecord, JobRecord, MetricRecord, ReportRecord

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    spec_json TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    state TEXT NOT NULL,
    state_json TEXT NOT NULL,
    version INTEGER NOT NULL,
    policy_version INTEGER NOT NULL,
    skipped_nonfinite_metrics INTEGER NOT NULL,
    create_time REAL NOT NULL,
    update_time REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    step INTEGER NOT NULL,
    lr REAL NOT NULL,
    reason TEXT NOT NULL,
    time REAL NOT NULL,
    metrics_json TEXT NOT NULL,
    PRIMARY KEY (job_id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reports (
    job_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    lr REAL NOT NULL,
    should_stop INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (job_id, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metrics (
    job_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (job_id, step, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_tokens (
    token_hash TEXT PRIMARY KEY,
    job_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_tokens_by_job ON job_tokens (job_id);
"""
"""job_tokens holds sha256 hex digests of the bearer tokens CreateJob issued, never a token."""

@dataclass(eq=False)
class _Write:
    """One caller's statements, queued for the next group commit."""

    statements: list[tuple[str, tuple]]
    done: bool = False
    error: Exception | None = None


JOB_COLUMNS = ("job_id, spec_json, idempotency_key, state, state_json, version, policy_version, "
               "skipped_nonfinite_metrics, create_time, update_time")


class SqliteStore:
    """Store implementation over a single SQLite file; see base.Store for the contract."""

    def __init__(self, data_dir: str | pathlib.Path) -> None:
        path = pathlib.Path(data_dir)
        self.path = path / "lrctl.sqlite"
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Write] = []
        try:
            path.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=OFF")
            self._db.executescript(SCHEMA)
        except OSError as exc:
            raise storage_error(exc) from None
        except sqlite3.Error as exc:
            failure = storage_error(exc, self._files())
            raise type(failure)(f"{failure} ({self.path})") from None

    def _files(self) -> tuple[pathlib.Path, ...]:
        """The database's files, which a write may grow."""
        return (self.path, self.path.with_name(self.path.name + "-wal"))

    def _write(self, statements: Iterable[tuple[str, tuple]]) -> None:
        """Runs statements as one atomic unit, durable on return; a failure writes none of them."""
        write = _Write(list(statements))
        with self._queue_lock:
            self._queue.append(write)
        with self._lock:
            if not write.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        if write.error is not None:
            raise write.error

    def _commit(self, batch: list[_Write]) -> None:
        """One transaction, one fsync, for every queued write (the caller holds self._lock).

        With several writes each runs in a savepoint, so a refused one rolls back alone; a
        lone write needs none (its failure rolls back the whole transaction). A storage
        failure (disk full, I/O error) fails every write of the batch and rolls back, leaving
        the connection ready for the next one; every write is marked done whatever happens,
        so no follower takes a write that never committed for a durable one.
        """
        failure: LrctlError | None = None
        try:
            self._transaction(batch)
        except sqlite3.Error as exc:
            failure = storage_error(exc, self._files())
            log.error("store: %s", failure)
        except BaseException:
            failure = Unavailable("storage unavailable: the write was interrupted")
            raise
        finally:
            for write in batch:
                if failure is not None:
                    write.error = failure
                write.done = True
            self._rollback()

    def _rollback(self) -> None:
        """Ends a transaction a failure left open (SQLite may already have rolled it back)."""
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.error("store: rollback failed: %s", exc)

    def _transaction(self, batch: list[_Write]) -> None:
        """Runs the batch in one transaction; a write refused for its own content (a taken job
        id, an integer over 64 bits) rolls back alone and keeps its error."""
        isolate = len(batch) > 1
        self._rollback()
        self._db.execute("BEGIN IMMEDIATE")
        for write in batch:
            if isolate:
                self._db.execute("SAVEPOINT one_write")
            try:
                for sql, args in write.statements:
                    self._db.execute(sql, args)
            except (sqlite3.IntegrityError, OverflowError) as exc:
                self._db.execute("ROLLBACK TO one_write" if isolate else "ROLLBACK")
                write.error = exc
            if isolate:
                self._db.execute("RELEASE one_write")
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise storage_error(exc, self._files()) from None

    def insert_job(self, job: JobRecord, events: Iterable[EventRecord], token_hash: str = "") -> None:
        tokens = [("INSERT INTO job_tokens VALUES (?,?)", (token_hash, job.job_id))] if token_hash else []
        try:
            self._write([(f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", _job_row(job)),
                         *(_event_insert(e) for e in events), *tokens])
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"job {job.job_id!r} already exists") from exc

    def load_job(self, job_id: str) -> JobRecord | None:
        rows = self._read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,))
        return JobRecord(*rows[0]) if rows else None

    def list_jobs(self, after_job_id: str, limit: int) -> list[JobRecord]:
        rows = self._read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id > ? ORDER BY job_id LIMIT ?",
                          (after_job_id, limit))
        return [JobRecord(*row) for row in rows]

    def delete_job(self, job_id: str) -> bool:
        existed = bool(self._read("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)))
        self._write([(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))
                     for table in ("jobs", "events", "reports", "metrics", "job_tokens")])
        return existed

    def add_job_token(self, job_id: str, token_hash: str) -> bool:
        # Conditional on the job row, so a token cannot outlive a job deleted meanwhile
        # (and then grant a later job of the same id).
        self._write([("INSERT INTO job_tokens SELECT ?, job_id FROM jobs WHERE job_id = ?", (token_hash, job_id))])
        return bool(self._read("SELECT 1 FROM job_tokens WHERE token_hash = ?", (token_hash,)))

    def count_job_tokens(self, job_id: str) -> int:
        return self._read("SELECT COUNT(*) FROM job_tokens WHERE job_id = ?", (job_id,))[0][0]

    def job_of_token(self, token_hash: str) -> str | None:
        rows = self._read("SELECT job_id FROM job_tokens WHERE token_hash = ?", (token_hash,))
        return rows[0][0] if rows else None

    def update_job(
        self,
        job: JobRecord,
        events: Iterable[EventRecord] = (),
        metrics: Iterable[MetricRecord] = (),
        report: ReportRecord | None = None,
    ) -> None:
        statements = [(f"REPLACE INTO jobs ({JOB_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", _job_row(job))]
        statements += [_event_insert(e) for e in events]
        statements += [("INSERT INTO metrics VALUES (?,?,?,?)", (m.job_id, m.step, m.name, m.value))
                       for m in metrics]
        if report is not None:
            statements.append(("REPLACE INTO reports VALUES (?,?,?,?,?)",
                               (report.job_id, report.step, report.lr, int(report.should_stop), report.version)))
        self._write(statements)

    def list_events(self, job_id: str, since_version: int, limit: int) -> list[EventRecord]:
        rows = self._read(
            "SELECT job_id, version, kind, step, lr, reason, time, metrics_json FROM events "
            "WHERE job_id = ? AND version > ? ORDER BY version LIMIT ?",
            (job_id, since_version, limit))
        return [EventRecord(*row) for row in rows]

    def load_report(self, job_id: str, step: int) -> ReportRecord | None:
        rows = self._read("SELECT job_id, step, lr, should_stop, version FROM reports "
                          "WHERE job_id = ? AND step = ?", (job_id, step))
        return ReportRecord(rows[0][0], rows[0][1], rows[0][2], bool(rows[0][3]), rows[0][4]) if rows else None

    def metric_names(self, job_id: str, step: int) -> set[str]:
        return {row[0] for row in self._read("SELECT name FROM metrics WHERE job_id = ? AND step = ?",
                                             (job_id, step))}

    def count_jobs(self) -> dict[str, int]:
        return dict(self._read("SELECT state, COUNT(*) FROM jobs GROUP BY state", ()))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _job_row(job: JobRecord) -> tuple:
    return (job.job_id, job.spec_json, job.idempotency_key, job.state, job.state_json, job.version,
            job.policy_version, job.skipped_nonfinite_metrics, job.create_time, job.update_time)


def _event_insert(event: EventRecord) -> tuple[str, tuple]:
    return ("INSERT INTO events VALUES (?,?,?,?,?,?,?,?)",
            (event.job_id, event.version, event.kind, event.step, event.lr, event.reason,
             event.time, event.metrics_json))
