"""The embedded default store: one SQLite database (WAL), `sqlite:///<data-dir>/lrctl.sqlite`.

synchronous=FULL is what makes a commit durable in WAL mode before we reply; NORMAL
would lose the last transactions on power loss. A durable commit costs an fsync
(~150 µs here), so concurrent writers share it: group commit, leader/follower style.
Each write queues itself; whoever holds the write connection next commits everything queued
in one transaction, each write in its own savepoint so one refused write (a taken job id, a
lost compare-and-swap) does not fail the others. A lone caller pays nothing extra. Reads use
a second connection: in WAL mode they see the last commit and never wait for an fsync.
"""
from __future__ import annotations

import logging
import math
import os
import pathlib
import resource
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from lrctl.server.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    LrctlError,
    NotFound,
    Unavailable,
    VersionConflict,
)
from lrctl.server.store.base import SCHEMA_VERSION, ChangeListener, SyncPoint
from lrctl.server.store.failures import storage_error, storage_full, storage_unavailable
from lrctl.server.store.records import (EVENT_COLUMNS, EventRecord, JobRecord, JobUpdate, MetricRecord, OwnerRecord,
                                        ReportRecord)

log = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = ("""
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
""", """
ALTER TABLE events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN first_step INTEGER;
""", """
CREATE TABLE plateau_scales (
    job_id TEXT NOT NULL,
    from_step INTEGER NOT NULL,
    scale REAL NOT NULL,
    PRIMARY KEY (job_id, from_step)
) WITHOUT ROWID;
INSERT INTO plateau_scales
    SELECT jobs.job_id, json_extract(entry.value, '$[0]'), CAST(json_extract(entry.value, '$[1]') AS REAL)
    FROM jobs, json_each(jobs.state_json, '$.plateau.scales') AS entry;
UPDATE jobs SET state_json = json_remove(state_json, '$.plateau.scales');
""", """
CREATE TABLE replicas (
    replica_id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    heartbeat_time REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE dataplane_owners (
    job_id TEXT PRIMARY KEY,
    create_time REAL NOT NULL,
    replica_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    snapshot_step INTEGER NOT NULL
) WITHOUT ROWID;
""")
"""MIGRATIONS[n - 1] takes a database from schema version n - 1 to n. Version 1 is the schema
of lrctl 0.1 (written with IF NOT EXISTS, so databases from before schema_version existed
upgrade in place). job_tokens holds sha256 hex digests of bearer tokens, never a token.
Version 2 lets one event stand for several occurrences (count, first_step): the warm
restarts one report passes. Version 3 moves the plateau's scale history out of state_json into rows of
its own (plateau_scales), so a report writes one row instead of the whole history. Version 4 adds the
data-plane owners and the replicas' addresses (base.Store)."""
assert len(MIGRATIONS) == SCHEMA_VERSION

SQLITE_FULL = 13
SQLITE_IOERR_WRITE = 778
JOB_COLUMNS = ("job_id, spec_json, idempotency_key, state, state_json, version, policy_version, "
               "skipped_nonfinite_metrics, create_time, update_time")
JOB_UPDATE = ("UPDATE jobs SET spec_json = ?, idempotency_key = ?, state = ?, state_json = ?, version = ?, "
              "policy_version = ?, skipped_nonfinite_metrics = ?, create_time = ?, update_time = ? "
              "WHERE job_id = ? AND version = ? AND create_time = ?")
OWNER_SELECT = ("SELECT o.job_id, o.create_time, o.replica_id, o.epoch, o.snapshot_step, coalesce(r.address, ''), "
                "? - r.heartbeat_time FROM dataplane_owners o LEFT JOIN replicas r ON r.replica_id = o.replica_id "
                "WHERE o.job_id = ? AND o.create_time = ?")
"""An incarnation's owner, with how long ago (the first argument: now) it last registered."""
OWNER_UPSERT = ("INSERT INTO dataplane_owners VALUES (?,?,?,1,-1) ON CONFLICT (job_id) DO UPDATE SET "
                "create_time = excluded.create_time, replica_id = excluded.replica_id, epoch = 1, snapshot_step = -1 "
                "WHERE create_time <> excluded.create_time")
"""A first claim of an incarnation; a row an earlier incarnation left (none should: owners are
deleted with their job) is replaced, and the incarnation's own owner is kept."""
Apply = Callable[[sqlite3.Connection], Any]


@dataclass(eq=False)
class _Write:
    """One caller's work, queued for the next group commit: `apply(db)` runs its statements and
    returns the caller's result, or raises to refuse the write for its own content."""

    apply: Apply
    done: bool = False
    result: Any = None
    error: Exception | None = None


def _statements(statements: Iterable[tuple[str, tuple]]) -> Apply:
    listed = list(statements)

    def apply(db: sqlite3.Connection) -> None:
        for sql, args in listed:
            db.execute(sql, args)
    return apply


class SqliteStore:
    """Store implementation over a single SQLite file; see base.Store for the contract."""

    shared = False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = pathlib.Path(path)
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Write] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=OFF")
            self._migrate()
            self._reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except OSError as exc:
            raise storage_error(exc) from None
        except sqlite3.Error as exc:
            failure = sqlite_failure(exc, self._files())
            raise type(failure)(f"{failure} ({self.path})") from None

    def _migrate(self) -> None:
        """Brings the schema to SCHEMA_VERSION in one transaction; refuses a newer one."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._db.execute("SELECT version FROM schema_version").fetchone()
            current = row[0] if row else 0
            if current > SCHEMA_VERSION:
                raise FailedPrecondition(
                    f"the database {self.path} has schema version {current}, newer than the {SCHEMA_VERSION} this "
                    "lrctl knows: it was written by a newer lrctl; run that version (or newer)")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version - 1].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            if current != SCHEMA_VERSION:
                self._db.execute("DELETE FROM schema_version")
                self._db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
                log.info("store %s: schema version %d -> %d", self.path, current, SCHEMA_VERSION)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        return self._read("SELECT version FROM schema_version", ())[0][0]

    def _files(self) -> tuple[pathlib.Path, ...]:
        """The database's files, which a write may grow."""
        return (self.path, self.path.with_name(self.path.name + "-wal"))

    # ---- group commit -------------------------------------------------------------------
    def _write(self, apply: Apply) -> Any:
        """Runs `apply` as one atomic unit, durable on return; a failure writes none of it."""
        write = _Write(apply)
        with self._queue_lock:
            self._queue.append(write)
        with self._lock:
            if not write.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        if write.error is not None:
            raise write.error
        return write.result

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
            failure = sqlite_failure(exc, self._files())
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
        id, a lost compare-and-swap, an integer over 64 bits, any of the server's own errors
        raised by a locked update's plan) rolls back alone and keeps its error."""
        isolate = len(batch) > 1
        self._rollback()
        self._db.execute("BEGIN IMMEDIATE")
        for write in batch:
            if isolate:
                self._db.execute("SAVEPOINT one_write")
            try:
                write.result = write.apply(self._db)
            except (sqlite3.IntegrityError, OverflowError, LrctlError) as exc:
                self._db.execute("ROLLBACK TO one_write" if isolate else "ROLLBACK")
                write.error = _refusal(exc)
            if isolate:
                self._db.execute("RELEASE one_write")
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple) -> list[tuple]:
        with self._read_lock:
            try:
                return self._reader.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise sqlite_failure(exc, self._files()) from None

    # ---- the contract --------------------------------------------------------------------
    def insert_job(self, job: JobRecord, events: Iterable[EventRecord], token_hash: str = "",
                   owner: str = "") -> None:
        tokens = [("INSERT INTO job_tokens VALUES (?,?)", (token_hash, job.job_id))] if token_hash else []
        owners = [(OWNER_UPSERT, (job.job_id, job.create_time, owner))] if owner else []
        statements = _statements([(f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", _job_row(job)),
                                  *(_event_insert(e) for e in events), *tokens, *owners,
                                  *((_SCALE_UPSERT, (job.job_id, step, scale)) for step, scale in job.scales)])

        def apply(db: sqlite3.Connection) -> None:
            try:
                statements(db)
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"job {job.job_id!r} already exists") from None
        self._write(apply)

    def load_job(self, job_id: str) -> JobRecord | None:
        with self._read_lock:
            try:
                self._reader.execute("BEGIN")  # the row and its scales from the same commit
                try:
                    return _with_scales(self._reader, self._reader.execute(
                        f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)).fetchone())
                finally:
                    self._reader.execute("COMMIT")
            except sqlite3.Error as exc:
                raise sqlite_failure(exc, self._files()) from None

    def list_jobs(self, after_job_id: str, limit: int) -> list[JobRecord]:
        latest = "(SELECT {} FROM plateau_scales AS p WHERE p.job_id = jobs.job_id ORDER BY from_step DESC LIMIT 1)"
        rows = self._read(f"SELECT {JOB_COLUMNS}, {latest.format('from_step')}, {latest.format('scale')} FROM jobs "
                          "WHERE job_id > ? ORDER BY job_id LIMIT ?", (after_job_id, limit))
        return [JobRecord(*row[:-2], scales=() if row[-2] is None else ((row[-2], row[-1]),)) for row in rows]

    def delete_job(self, job_id: str) -> bool:
        def apply(db: sqlite3.Connection) -> bool:
            existed = db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,)).rowcount == 1
            for table in ("events", "reports", "metrics", "job_tokens", "plateau_scales", "dataplane_owners"):
                db.execute(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))
            return existed
        return self._write(apply)

    def add_job_token(self, job_id: str, token_hash: str) -> bool:
        # Conditional on the job row, so a token cannot outlive a job deleted meanwhile
        # (and then grant a later job of the same id).
        return self._write(lambda db: db.execute(
            "INSERT INTO job_tokens SELECT ?, job_id FROM jobs WHERE job_id = ?", (token_hash, job_id)).rowcount == 1)

    def count_job_tokens(self, job_id: str) -> int:
        return self._read("SELECT COUNT(*) FROM job_tokens WHERE job_id = ?", (job_id,))[0][0]

    def job_of_token(self, token_hash: str) -> str | None:
        rows = self._read("SELECT job_id FROM job_tokens WHERE token_hash = ?", (token_hash,))
        return rows[0][0] if rows else None

    def update_job(
        self,
        job: JobRecord,
        expected_version: int,
        events: Iterable[EventRecord] = (),
        metrics: Iterable[MetricRecord] = (),
        report: ReportRecord | None = None,
        scales: Iterable[tuple[int, float]] = (),
    ) -> None:
        apply = _update(JobUpdate(job, tuple(events), tuple(metrics), report, tuple(scales)), expected_version)
        self._write(apply)

    def update_job_locked(self, job_id: str, plan: Callable[[JobRecord], JobUpdate | None]) -> JobUpdate | None:
        """The plan runs inside the write transaction, which excludes every other writer of the
        file; its reads (on the reader connection) see the last commit, which is the held row."""
        def apply(db: sqlite3.Connection) -> JobUpdate | None:
            current = _with_scales(db, db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?",
                                                  (job_id,)).fetchone())
            if current is None:
                raise NotFound(f"job {job_id!r} not found")
            update = plan(current)
            if update is not None:
                _update(update, current.version)(db)
            return update
        return self._write(apply)

    def listen(self, listener: ChangeListener) -> None:
        """Nothing to tell: one server writes the file (the data-dir lock), through this handle."""

    def sync_point(self) -> SyncPoint:
        return SyncPoint(0, math.inf)

    def list_events(self, job_id: str, since_version: int, limit: int) -> list[EventRecord]:
        rows = self._read(
            f"SELECT {EVENT_COLUMNS} FROM events "
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

    def register_replica(self, replica_id: str, address: str) -> None:
        self._write(_statements([("REPLACE INTO replicas VALUES (?,?,?)", (replica_id, address, time.time()))]))

    def claim_owner(self, job_id: str, create_time: float, replica_id: str) -> OwnerRecord | None:
        def apply(db: sqlite3.Connection) -> OwnerRecord | None:
            if db.execute("SELECT 1 FROM jobs WHERE job_id = ? AND create_time = ?",
                          (job_id, create_time)).fetchone() is None:
                return None
            db.execute(OWNER_UPSERT, (job_id, create_time, replica_id))
            return _owner(db, job_id, create_time)
        return self._write(apply)

    def load_owner(self, job_id: str, create_time: float) -> OwnerRecord | None:
        rows = self._read(OWNER_SELECT, (time.time(), job_id, create_time))
        return _owner_record(rows[0]) if rows else None

    def commit_snapshot(self, job_id: str, create_time: float, replica_id: str, epoch: int,
                        step: int) -> OwnerRecord | None:
        def apply(db: sqlite3.Connection) -> OwnerRecord | None:
            db.execute("UPDATE dataplane_owners SET snapshot_step = ? "
                       "WHERE job_id = ? AND create_time = ? AND replica_id = ? AND epoch = ?",
                       (step, job_id, create_time, replica_id, epoch))
            return _owner(db, job_id, create_time)
        return self._write(apply)

    def move_owner(self, job_id: str, create_time: float, expected_epoch: int,
                   replica_id: str) -> OwnerRecord | None:
        def apply(db: sqlite3.Connection) -> OwnerRecord | None:
            db.execute("UPDATE dataplane_owners SET replica_id = ?, epoch = epoch + 1 "
                       "WHERE job_id = ? AND create_time = ? AND epoch = ?",
                       (replica_id, job_id, create_time, expected_epoch))
            return _owner(db, job_id, create_time)
        return self._write(apply)

    def count_jobs(self) -> dict[str, int]:
        return dict(self._read("SELECT state, COUNT(*) FROM jobs GROUP BY state", ()))

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._reader.close()
            self._db.close()


def _refusal(error: Exception) -> LrctlError:
    """A write refused for its own content, in the contract's terms: an integer beyond 64 bits
    is a bad argument; a constraint that only a concurrent writer could break (a metric
    recorded twice for one step) means this write lost to it."""
    if isinstance(error, LrctlError):
        return error
    if isinstance(error, OverflowError):
        return InvalidArgument(FieldViolation("", f"a value does not fit the store's 64-bit integers ({error})"))
    return VersionConflict(f"the write conflicts with one already stored ({error})")


def sqlite_failure(error: sqlite3.Error, files: Iterable[str | os.PathLike[str]] = ()) -> LrctlError:
    """SQLite's errors in the store contract's terms. SQLite reports ENOSPC as SQLITE_FULL but
    hides the errno of any other failed write(2) behind SQLITE_IOERR_WRITE; EFBIG (the
    process's file-size limit) is recognised by the database file that reached that limit."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == SQLITE_FULL:
        return storage_full(str(error))
    if code == SQLITE_IOERR_WRITE and _at_file_size_limit(files):
        return storage_full(f"the file size limit was reached ({error})")
    return storage_unavailable(str(error) or type(error).__name__)


def _at_file_size_limit(files: Iterable[str | os.PathLike[str]]) -> bool:
    limit, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if limit == resource.RLIM_INFINITY:
        return False
    for path in files:
        try:
            if os.path.getsize(path) >= limit:
                return True
        except OSError:
            continue
    return False


def _update(update: JobUpdate, expected_version: int) -> Apply:
    """The statements of one compare-and-swap update: NotFound or VersionConflict, and nothing
    written, when the row is gone or no longer at `expected_version`."""
    job = update.job
    history = [_event_insert(e) for e in update.events]
    history += [("INSERT INTO metrics VALUES (?,?,?,?)", (m.job_id, m.step, m.name, m.value)) for m in update.metrics]
    history += [(_SCALE_UPSERT, (job.job_id, step, scale)) for step, scale in update.scales]
    if update.report is not None:
        report = update.report
        history.append(("REPLACE INTO reports VALUES (?,?,?,?,?)",
                        (report.job_id, report.step, report.lr, int(report.should_stop), report.version)))
    append = _statements(history)
    row = _job_row(job)

    def apply(db: sqlite3.Connection) -> None:
        if db.execute(JOB_UPDATE, (*row[1:], job.job_id, expected_version, job.create_time)).rowcount != 1:
            found = db.execute("SELECT version, create_time FROM jobs WHERE job_id = ?", (job.job_id,)).fetchone()
            if found is None or found[1] != job.create_time:
                raise NotFound(f"job {job.job_id!r} not found")
            raise VersionConflict(f"job {job.job_id!r} is at version {found[0]}, not {expected_version}: it "
                                  "changed concurrently")
        append(db)
    return apply


_SCALE_UPSERT = "INSERT INTO plateau_scales VALUES (?,?,?) ON CONFLICT (job_id, from_step) DO UPDATE SET scale = excluded.scale"


def _with_scales(db: sqlite3.Connection, row: tuple | None) -> JobRecord | None:
    """The job of a jobs row, with its whole scale history."""
    if row is None:
        return None
    scales = db.execute("SELECT from_step, scale FROM plateau_scales WHERE job_id = ? ORDER BY from_step",
                        (row[0],)).fetchall()
    return JobRecord(*row, scales=tuple(scales))


def _job_row(job: JobRecord) -> tuple:
    return (job.job_id, job.spec_json, job.idempotency_key, job.state, job.state_json, job.version,
            job.policy_version, job.skipped_nonfinite_metrics, job.create_time, job.update_time)


def _event_insert(event: EventRecord) -> tuple[str, tuple]:
    return (f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (event.job_id, event.version, event.kind, event.step, event.lr, event.reason,
             event.time, event.metrics_json, event.count, event.first_step))


def _owner(db: sqlite3.Connection, job_id: str, create_time: float) -> OwnerRecord | None:
    """The incarnation's owner as the write transaction `db` sees it."""
    row = db.execute(OWNER_SELECT, (time.time(), job_id, create_time)).fetchone()
    return _owner_record(row) if row else None


def _owner_record(row: tuple) -> OwnerRecord:
    """An OWNER_SELECT row; an owner that never registered has been silent forever."""
    return OwnerRecord(*row[:-1], math.inf if row[-1] is None else row[-1])
