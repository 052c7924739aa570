"""The shared store: PostgreSQL (psycopg 3 with a psycopg_pool pool), `postgresql://USER@HOST:PORT/DB`.

Several active replicas use one database. Every write is one transaction on a pooled
connection, committed with synchronous_commit on (a session whose server default is off gets
it turned on), so an acknowledged write is durable; PostgreSQL shares WAL flushes between
concurrent commits itself. Job updates are compare-and-swap on the version: under READ
COMMITTED a concurrent UPDATE of the same row waits for the other to commit and then matches
no row, which is the lost swap. A trigger on `jobs` sends a notification from every commit
that creates, changes or deletes a job; the change feed (postgres_feed.py) hands them to the
replicas' caches.

A connection lost during COMMIT leaves that one write's outcome unknown, as with any
client-server database; it is reported UNAVAILABLE, and the job layer's compare-and-swap and
idempotent reports make the caller's retry safe.
"""
from __future__ import annotations

import logging
import math
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from lrctl.server.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    LrctlError,
    NotFound,
    VersionConflict,
)
from lrctl.server.store.base import SCHEMA_VERSION, ChangeListener, SyncPoint
from lrctl.server.store.factory import redacted
from lrctl.server.store.failures import storage_full, storage_unavailable
from lrctl.server.store.postgres_feed import JOBS_CHANNEL, ChangeFeed
from lrctl.server.store.records import (EVENT_COLUMNS, EventRecord, JobRecord, JobUpdate, MetricRecord, OwnerRecord,
                                        ReportRecord)

log = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = (f"""
CREATE TABLE jobs (
    job_id TEXT COLLATE "C" PRIMARY KEY,
    spec_json TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    state TEXT NOT NULL,
    state_json TEXT NOT NULL,
    version BIGINT NOT NULL,
    policy_version BIGINT NOT NULL,
    skipped_nonfinite_metrics BIGINT NOT NULL,
    create_time DOUBLE PRECISION NOT NULL,
    update_time DOUBLE PRECISION NOT NULL
);
CREATE TABLE events (
    job_id TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    kind TEXT NOT NULL,
    step BIGINT NOT NULL,
    lr DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL,
    metrics_json TEXT NOT NULL,
    PRIMARY KEY (job_id, version)
);
CREATE TABLE reports (
    job_id TEXT COLLATE "C" NOT NULL,
    step BIGINT NOT NULL,
    lr DOUBLE PRECISION NOT NULL,
    should_stop BOOLEAN NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (job_id, step)
);
CREATE TABLE metrics (
    job_id TEXT COLLATE "C" NOT NULL,
    step BIGINT NOT NULL,
    name TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job_id, step, name)
);
CREATE TABLE job_tokens (
    token_hash TEXT PRIMARY KEY,
    job_id TEXT NOT NULL
);
CREATE INDEX job_tokens_by_job ON job_tokens (job_id);
CREATE FUNCTION lrctl_job_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('{JOBS_CHANNEL}', 'd ' || OLD.job_id || ' 0 ' || OLD.create_time::text);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('{JOBS_CHANNEL}', 'u ' || NEW.job_id || ' ' || NEW.version || ' ' || NEW.create_time::text);
    RETURN NEW;
END $$;
CREATE TRIGGER jobs_changed AFTER INSERT OR UPDATE OR DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION lrctl_job_changed();
""", """
ALTER TABLE events ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN first_step BIGINT;
""", """
CREATE TABLE plateau_scales (
    job_id TEXT COLLATE "C" NOT NULL,
    from_step BIGINT NOT NULL,
    scale DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job_id, from_step)
);
INSERT INTO plateau_scales
    SELECT jobs.job_id, (entry ->> 0)::bigint, (entry ->> 1)::float8
    FROM jobs, jsonb_array_elements(jobs.state_json::jsonb -> 'plateau' -> 'scales') AS entry;
UPDATE jobs SET state_json = (state_json::jsonb #- '{plateau,scales}')::text;
""", """
CREATE TABLE replicas (
    replica_id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    heartbeat_time DOUBLE PRECISION NOT NULL
);
CREATE TABLE dataplane_owners (
    job_id TEXT COLLATE "C" PRIMARY KEY,
    create_time DOUBLE PRECISION NOT NULL,
    replica_id TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    snapshot_step BIGINT NOT NULL
);
""")
"""MIGRATIONS[n - 1] takes a database from schema version n - 1 to n (the SQLite store's
version 1 plus the trigger that feeds the replicas' caches; versions 2 to 4 as there: events
that stand for several occurrences, the plateau's scale history in rows of its own, the
data-plane owners)."""
assert len(MIGRATIONS) == SCHEMA_VERSION

MIGRATION_LOCK = 0x6C72_6374_6C00  # pg_advisory_xact_lock key: replicas starting together migrate one at a time
POOL_SIZE = 24
"""Connections per replica: more than two per control-plane worker (a locked update's plan
reads on its own connection only in other threads), so the pool never runs dry by itself."""
POOL_TIMEOUT = 5.0
"""Seconds a call waits for a connection before it fails UNAVAILABLE (the database is away)."""
CONNECT_TIMEOUT = 5
JOB_COLUMNS = ("job_id, spec_json, idempotency_key, state, state_json, version, policy_version, "
               "skipped_nonfinite_metrics, create_time, update_time")
WITH_SCALES = (f"SELECT {JOB_COLUMNS}, "
               "(SELECT array_agg(from_step ORDER BY from_step) FROM plateau_scales p WHERE p.job_id = jobs.job_id), "
               "(SELECT array_agg(scale ORDER BY from_step) FROM plateau_scales p WHERE p.job_id = jobs.job_id) "
               "FROM jobs WHERE job_id = %s")
"""A job row with its whole scale history, read in one statement (one snapshot)."""
JOB_UPDATE = ("UPDATE jobs SET spec_json = %s, idempotency_key = %s, state = %s, state_json = %s, version = %s, "
              "policy_version = %s, skipped_nonfinite_metrics = %s, create_time = %s, update_time = %s "
              "WHERE job_id = %s AND version = %s AND create_time = %s")
EVENT_INSERT = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
UPDATE_STATEMENT = f"""
WITH updated AS ({JOB_UPDATE} RETURNING 1),
new_events AS (
    INSERT INTO events ({EVENT_COLUMNS}) SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::bigint[],
        %s::float8[], %s::text[], %s::float8[], %s::text[], %s::bigint[], %s::bigint[])
        WHERE EXISTS (SELECT 1 FROM updated)),
new_metrics AS (
    INSERT INTO metrics SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::float8[])
        WHERE EXISTS (SELECT 1 FROM updated)),
new_scales AS (
    INSERT INTO plateau_scales SELECT * FROM unnest(%s::text[], %s::bigint[], %s::float8[])
        WHERE EXISTS (SELECT 1 FROM updated)
    ON CONFLICT (job_id, from_step) DO UPDATE SET scale = excluded.scale),
new_report AS (
    INSERT INTO reports SELECT * FROM unnest(%s::text[], %s::bigint[], %s::float8[], %s::boolean[], %s::bigint[])
        WHERE EXISTS (SELECT 1 FROM updated)
    ON CONFLICT (job_id, step) DO UPDATE SET lr = excluded.lr, should_stop = excluded.should_stop,
        version = excluded.version)
SELECT count(*) FROM updated"""
"""A compare-and-swap update with its events, metrics, scale entries and report: the history is written only
if the swap matched, all in one statement (data-modifying CTEs run together, atomically)."""
NOW = "extract(epoch FROM clock_timestamp())"
"""The database's clock, in seconds: every replica's heartbeat and silence are measured on it,
so the replicas' own clocks need not agree."""
OWNER_SELECT = ("SELECT o.job_id, o.create_time, o.replica_id, o.epoch, o.snapshot_step, coalesce(r.address, ''), "
                f"{NOW} - r.heartbeat_time FROM dataplane_owners o LEFT JOIN replicas r ON r.replica_id = o.replica_id "
                "WHERE o.job_id = %s AND o.create_time = %s")
OWNER_UPSERT = ("INSERT INTO dataplane_owners AS o VALUES (%s, %s, %s, 1, -1) ON CONFLICT (job_id) DO UPDATE SET "
                "create_time = excluded.create_time, replica_id = excluded.replica_id, epoch = 1, snapshot_step = -1 "
                "WHERE o.create_time <> excluded.create_time")
"""A first claim of an incarnation; a row an earlier incarnation left (none should: owners are
deleted with their job) is replaced, and the incarnation's own owner is kept. A concurrent
claim waits for this one's commit, then keeps the winner's row."""
Connection = psycopg.Connection


class PostgresStore:
    """Store implementation over one PostgreSQL database; see base.Store for the contract."""

    shared = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = redacted(url)
        self._local = threading.local()
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
                self._migrate(conn)
        except psycopg.Error as error:
            failure = postgres_failure(error)
            raise type(failure)(f"{failure} ({self.where})") from None
        self._pool = psycopg_pool.ConnectionPool(
            url, min_size=2, max_size=POOL_SIZE, timeout=POOL_TIMEOUT, open=False, name="lrctl",
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT, "application_name": "lrctl"},
            configure=_durable_commits)
        self._pool.open(wait=False)
        self._feed = ChangeFeed(url, self.where)

    def _migrate(self, conn: Connection) -> None:
        """Brings the schema to SCHEMA_VERSION in one transaction; refuses a newer one."""
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            current = row[0] if row else 0
            if current > SCHEMA_VERSION:
                raise FailedPrecondition(
                    f"the database {self.where} has schema version {current}, newer than the {SCHEMA_VERSION} "
                    "this lrctl knows: it was written by a newer lrctl; run that version (or newer)")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                conn.execute(MIGRATIONS[version - 1])
            if current != SCHEMA_VERSION:
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version VALUES (%s)", (SCHEMA_VERSION,))
                log.info("store %s: schema version %d -> %d", self.where, current, SCHEMA_VERSION)

    def schema_version(self) -> int:
        return self._read("SELECT version FROM schema_version", ())[0][0]

    # ---- connections ----------------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A pooled connection; the database's errors leave as the contract's."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg_pool.PoolTimeout:
            raise storage_unavailable(f"no connection to {self.where} within {POOL_TIMEOUT:g} s") from None
        except psycopg.Error as error:
            raise postgres_failure(error) from None

    def _read(self, sql: str, args: tuple) -> list[tuple]:
        """One statement's rows: on the connection of the locked update this thread is in, if
        any; else on a pooled one, tried once more on a fresh connection when the first was
        broken (a database restart leaves every pooled connection so)."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            try:
                return held.execute(sql, args).fetchall()
            except psycopg.Error as error:
                raise postgres_failure(error) from None
        for attempt in (1, 2):
            try:
                with self._pool.connection() as conn:
                    return conn.execute(sql, args).fetchall()
            except psycopg_pool.PoolTimeout:
                raise storage_unavailable(f"no connection to {self.where} within {POOL_TIMEOUT:g} s") from None
            except psycopg.OperationalError as error:
                if attempt == 2:
                    raise postgres_failure(error) from None
            except psycopg.Error as error:
                raise postgres_failure(error) from None
        raise AssertionError("unreachable")

    def _write(self, apply: Callable[[Connection], Any]) -> Any:
        """Runs `apply(conn)` in one transaction, committed durably on return."""
        with self._connection() as conn:
            with conn.transaction():
                return apply(conn)

    # ---- the contract ----------------------------------------------------------------------
    def insert_job(self, job: JobRecord, events: Iterable[EventRecord], token_hash: str = "",
                   owner: str = "") -> None:
        listed = [_event_row(e) for e in events]

        def apply(conn: Connection) -> None:
            try:
                conn.execute(f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                             _job_row(job))
                if token_hash:
                    conn.execute("INSERT INTO job_tokens VALUES (%s, %s)", (token_hash, job.job_id))
            except pg_errors.UniqueViolation:
                raise AlreadyExists(f"job {job.job_id!r} already exists") from None
            if listed:
                conn.cursor().executemany(EVENT_INSERT, listed)
            if job.scales:
                conn.cursor().executemany("INSERT INTO plateau_scales VALUES (%s, %s, %s)",
                                          [(job.job_id, step, scale) for step, scale in job.scales])
            if owner:
                conn.execute(OWNER_UPSERT, (job.job_id, job.create_time, owner))
        self._write(apply)

    def load_job(self, job_id: str) -> JobRecord | None:
        rows = self._read(WITH_SCALES, (job_id,))
        return _with_scales(rows[0]) if rows else None

    def list_jobs(self, after_job_id: str, limit: int) -> list[JobRecord]:
        latest = "(SELECT {} FROM plateau_scales p WHERE p.job_id = jobs.job_id ORDER BY from_step DESC LIMIT 1)"
        rows = self._read(f"SELECT {JOB_COLUMNS}, {latest.format('from_step')}, {latest.format('scale')} FROM jobs "
                          "WHERE job_id > %s ORDER BY job_id LIMIT %s", (after_job_id, limit))
        return [JobRecord(*row[:-2], scales=() if row[-2] is None else ((row[-2], row[-1]),)) for row in rows]

    def delete_job(self, job_id: str) -> bool:
        def apply(conn: Connection) -> bool:
            existed = conn.execute("DELETE FROM jobs WHERE job_id = %s", (job_id,)).rowcount == 1
            for table in ("events", "reports", "metrics", "job_tokens", "plateau_scales", "dataplane_owners"):
                conn.execute(f"DELETE FROM {table} WHERE job_id = %s", (job_id,))
            return existed
        return self._write(apply)

    def add_job_token(self, job_id: str, token_hash: str) -> bool:
        # The job row is held (FOR SHARE) while the token is added, so a concurrent delete
        # either removes this token too or runs first and leaves nothing to add it to.
        def apply(conn: Connection) -> bool:
            if conn.execute("SELECT 1 FROM jobs WHERE job_id = %s FOR SHARE", (job_id,)).fetchone() is None:
                return False
            conn.execute("INSERT INTO job_tokens VALUES (%s, %s)", (token_hash, job_id))
            return True
        return self._write(apply)

    def count_job_tokens(self, job_id: str) -> int:
        return self._read("SELECT COUNT(*) FROM job_tokens WHERE job_id = %s", (job_id,))[0][0]

    def job_of_token(self, token_hash: str) -> str | None:
        rows = self._read("SELECT job_id FROM job_tokens WHERE token_hash = %s", (token_hash,))
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
        update = JobUpdate(job, tuple(events), tuple(metrics), report, tuple(scales))
        with self._connection() as conn:  # one statement, so no transaction block: one round trip
            _apply_update(conn, update, expected_version)

    def update_job_locked(self, job_id: str, plan: Callable[[JobRecord], JobUpdate | None]) -> JobUpdate | None:
        """The row is held with SELECT ... FOR UPDATE, which every compare-and-swap UPDATE of
        it waits for; the plan's reads from this thread run on the same transaction."""
        def apply(conn: Connection) -> JobUpdate | None:
            # Lock first, then read: a SELECT ... FOR UPDATE that waited for a concurrent update
            # returns the row's new version, but its subqueries (the scales) still read the
            # snapshot it started with, which lacks what that update added.
            if conn.execute("SELECT 1 FROM jobs WHERE job_id = %s FOR UPDATE", (job_id,)).fetchone() is None:
                raise NotFound(f"job {job_id!r} not found")
            current = _with_scales(conn.execute(WITH_SCALES, (job_id,)).fetchone())
            self._local.conn = conn
            try:
                update = plan(current)
            finally:
                self._local.conn = None
            if update is not None:
                _apply_update(conn, update, current.version)
            return update
        return self._write(apply)

    def listen(self, listener: ChangeListener) -> None:
        self._feed.add(listener)

    def sync_point(self) -> SyncPoint:
        return self._feed.sync_point()

    def list_events(self, job_id: str, since_version: int, limit: int) -> list[EventRecord]:
        rows = self._read(
            f"SELECT {EVENT_COLUMNS} FROM events "
            "WHERE job_id = %s AND version > %s ORDER BY version LIMIT %s", (job_id, since_version, limit))
        return [EventRecord(*row) for row in rows]

    def load_report(self, job_id: str, step: int) -> ReportRecord | None:
        rows = self._read("SELECT job_id, step, lr, should_stop, version FROM reports "
                          "WHERE job_id = %s AND step = %s", (job_id, step))
        return ReportRecord(*rows[0]) if rows else None

    def metric_names(self, job_id: str, step: int) -> set[str]:
        return {row[0] for row in self._read("SELECT name FROM metrics WHERE job_id = %s AND step = %s",
                                             (job_id, step))}

    def register_replica(self, replica_id: str, address: str) -> None:
        self._write(lambda conn: conn.execute(
            f"INSERT INTO replicas VALUES (%s, %s, {NOW}) ON CONFLICT (replica_id) "
            "DO UPDATE SET address = excluded.address, heartbeat_time = excluded.heartbeat_time", (replica_id, address)))

    def claim_owner(self, job_id: str, create_time: float, replica_id: str) -> OwnerRecord | None:
        """The job's row is held (FOR KEY SHARE: reports' updates of it go on) while the owner is
        written, so a concurrent delete either removes the new owner too or runs first and
        leaves nothing to claim."""
        def apply(conn: Connection) -> OwnerRecord | None:
            if conn.execute("SELECT 1 FROM jobs WHERE job_id = %s AND create_time = %s FOR KEY SHARE",
                            (job_id, create_time)).fetchone() is None:
                return None
            conn.execute(OWNER_UPSERT, (job_id, create_time, replica_id))
            return _owner(conn.execute(OWNER_SELECT, (job_id, create_time)).fetchone())
        return self._write(apply)

    def load_owner(self, job_id: str, create_time: float) -> OwnerRecord | None:
        rows = self._read(OWNER_SELECT, (job_id, create_time))
        return _owner(rows[0]) if rows else None

    def commit_snapshot(self, job_id: str, create_time: float, replica_id: str, epoch: int,
                        step: int) -> OwnerRecord | None:
        def apply(conn: Connection) -> OwnerRecord | None:
            conn.execute("UPDATE dataplane_owners SET snapshot_step = %s "
                         "WHERE job_id = %s AND create_time = %s AND replica_id = %s AND epoch = %s",
                         (step, job_id, create_time, replica_id, epoch))
            return _owner(conn.execute(OWNER_SELECT, (job_id, create_time)).fetchone())
        return self._write(apply)

    def move_owner(self, job_id: str, create_time: float, expected_epoch: int,
                   replica_id: str) -> OwnerRecord | None:
        def apply(conn: Connection) -> OwnerRecord | None:
            conn.execute("UPDATE dataplane_owners SET replica_id = %s, epoch = epoch + 1 "
                         "WHERE job_id = %s AND create_time = %s AND epoch = %s",
                         (replica_id, job_id, create_time, expected_epoch))
            return _owner(conn.execute(OWNER_SELECT, (job_id, create_time)).fetchone())
        return self._write(apply)

    def count_jobs(self) -> dict[str, int]:
        return dict(self._read("SELECT state, COUNT(*) FROM jobs GROUP BY state", ()))

    def close(self) -> None:
        self._feed.close()
        self._pool.close()


def _durable_commits(conn: Connection) -> None:
    """A commit is durable before we reply: refuse to inherit synchronous_commit = off."""
    if conn.execute("SHOW synchronous_commit").fetchone()[0] == "off":
        conn.execute("SET synchronous_commit = on")


def _apply_update(conn: Connection, update: JobUpdate, expected_version: int) -> None:
    """One compare-and-swap update and its history as one statement (UPDATE_STATEMENT): one
    round trip, and, outside a transaction block, one implicit transaction. NotFound or
    VersionConflict, with nothing written, when the row is gone or has moved on."""
    job, events, metrics, report = update.job, update.events, update.metrics, update.report
    reports = [report] if report is not None else []
    try:
        updated = conn.execute(UPDATE_STATEMENT, (
            *_job_row(job)[1:], job.job_id, expected_version, job.create_time,
            *_columns([_event_row(e) for e in events], 10),
            *_columns([(m.job_id, m.step, m.name, m.value) for m in metrics], 4),
            *_columns([(job.job_id, step, scale) for step, scale in update.scales], 3),
            *_columns([(r.job_id, r.step, r.lr, r.should_stop, r.version) for r in reports], 5))).fetchone()[0]
    except pg_errors.UniqueViolation as error:
        # Only a concurrent writer can have recorded this history (its swap then won).
        raise VersionConflict(f"the write conflicts with one already stored ({error.diag.message_primary})") from None
    if updated != 1:
        found = conn.execute("SELECT version, create_time FROM jobs WHERE job_id = %s", (job.job_id,)).fetchone()
        if found is None or found[1] != job.create_time:
            raise NotFound(f"job {job.job_id!r} not found")
        raise VersionConflict(f"job {job.job_id!r} is at version {found[0]}, not {expected_version}: it "
                              "changed concurrently")


def _columns(rows: list[tuple], width: int) -> list[list]:
    """Rows as `width` column lists, the unnest() parameters of UPDATE_STATEMENT."""
    return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(width)]


def postgres_failure(error: psycopg.Error) -> LrctlError:
    """PostgreSQL's errors in the store contract's terms: a full disk (53100) is storage full;
    a value the schema cannot hold (an integer over 64 bits, a NUL in text) is a bad argument;
    a serialization failure or deadlock (class 40) lost to a concurrent writer; anything else
    (connection refused or lost, the server shutting down, out of connections) unavailable."""
    if isinstance(error, pg_errors.DiskFull):
        return storage_full(_describe(error))
    if isinstance(error, psycopg.DataError):
        return InvalidArgument(FieldViolation("", f"a value the store cannot hold ({_describe(error)})"))
    if error.sqlstate is not None and error.sqlstate.startswith("40"):
        return VersionConflict(f"the write lost to a concurrent one ({_describe(error)})")
    return storage_unavailable(_describe(error))


def _describe(error: psycopg.Error) -> str:
    primary = error.diag.message_primary if error.diag is not None else None
    return " ".join((primary or str(error)).split()) or type(error).__name__


def _with_scales(row: tuple) -> JobRecord:
    """The job of a WITH_SCALES row (its last two columns: the history's steps and scales)."""
    steps, scales = row[-2] or (), row[-1] or ()
    return JobRecord(*row[:-2], scales=tuple(zip(steps, scales)))


def _job_row(job: JobRecord) -> tuple:
    return (job.job_id, job.spec_json, job.idempotency_key, job.state, job.state_json, job.version,
            job.policy_version, job.skipped_nonfinite_metrics, job.create_time, job.update_time)


def _event_row(event: EventRecord) -> tuple:
    return (event.job_id, event.version, event.kind, event.step, event.lr, event.reason, event.time,
            event.metrics_json, event.count, event.first_step)


def _owner(row: tuple | None) -> OwnerRecord | None:
    """An OWNER_SELECT row; an owner that never registered has been silent forever."""
    if row is None:
        return None
    return OwnerRecord(*row[:-1], math.inf if row[-1] is None else row[-1])
