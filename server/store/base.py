"""The store contract: what the jobs layer needs from persistence, nothing more.

Every store (SQLite, and later others) passes tests/store/test_store_contract.py. Every method
that changes data is one atomic, durable transaction: when it returns, the change survives a
crash (SIGKILL or power loss); when it raises, nothing of it was written. Failures are the
server's typed errors (lrctl.server.errors), already translated from the database's own terms:
ResourceExhausted ("storage full: ...") and Unavailable ("storage unavailable: ...") for the
storage itself, AlreadyExists, NotFound and VersionConflict for the data.

A job row carries its `version`, and `update_job` is a compare-and-swap on it: a writer that
read version v writes only if the row still holds v. A write that loses to a delete is
NotFound, one that loses to another writer is VersionConflict; neither writes anything, so a
deleted job never comes back and concurrent writers (threads, or replicas sharing a database)
never overwrite each other. `update_job_locked` is the fallback for a writer that lost:
it computes the update from the row while holding it, so it cannot lose again.

Stores that several servers share (PostgreSQL; `shared` is True) also tell every handle of
the changes committed through the others (`listen`), and say up to when that news is
complete (`sync_point`): that is what lets a replica cache job views with a bounded
staleness. A store only one server writes (SQLite) has nothing to tell.

A data-plane job lives on one replica at a time, its owner (OwnerRecord): the first claim of a
job incarnation wins and every concurrent claimant gets the winner's record; a change of owner
is a compare-and-swap on the epoch, and a snapshot commit is a write fenced by it (refused once
the epoch moved on). Replicas register the address they advertise, and beat their heart by
registering again; an owner record carries both. An owner row lives and dies with its job: it
is written only while the job's row exists, and deleted with it. Every store implements this,
but only a shared one needs it at runtime: the one server of SQLite owns every job.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

from lrctl.server.store.records import EventRecord, JobRecord, JobUpdate, MetricRecord, OwnerRecord, ReportRecord

SCHEMA_VERSION = 4
"""The schema this server writes; a store holding a newer one refuses to open."""


@dataclass(frozen=True, slots=True)
class SyncPoint:
    """How far a handle's change feed is complete: every commit made before `as_of`
    (time.monotonic() of this process) has been passed to the listeners, provided the feed
    has stayed connected since `generation` began (each reconnect starts a new one)."""

    generation: int
    as_of: float


class ChangeListener(Protocol):
    """Told of commits made through other handles of a shared store; called from the store's
    own thread, so each method must be quick and must not raise."""

    def job_changed(self, job_id: str, version: int, create_time: float) -> None:
        """The job (the incarnation created at `create_time`) was created or updated to `version`."""

    def job_deleted(self, job_id: str, create_time: float) -> None: ...

    def resync(self) -> None:
        """Changes may have been missed (the feed reconnected): no cached view can be trusted
        from before this call."""


class Store(Protocol):
    shared: bool
    """True when other servers write the same data (replicas): their changes reach this
    handle only through `listen`."""

    def insert_job(self, job: JobRecord, events: Iterable[EventRecord], token_hash: str = "",
                   owner: str = "") -> None:
        """Adds a new job (with the hash of its first bearer token, when given, and claimed by
        the replica `owner` at epoch 1, when given: an imported job, whose arrays exist before
        its row); AlreadyExists when the id is taken (and nothing is written)."""

    def load_job(self, job_id: str) -> JobRecord | None: ...

    def list_jobs(self, after_job_id: str, limit: int) -> list[JobRecord]:
        """Jobs ordered by id, strictly after `after_job_id` ("" for the first page)."""

    def delete_job(self, job_id: str) -> bool:
        """Removes the job, its history, its tokens and its owner; False when it did not exist."""

    def add_job_token(self, job_id: str, token_hash: str) -> bool:
        """Adds another token hash to an existing job; False (nothing written) when there is no such job."""

    def count_job_tokens(self, job_id: str) -> int: ...

    def job_of_token(self, token_hash: str) -> str | None:
        """The job a token hash (sha256 hex) belongs to; None when it belongs to none."""

    def update_job(
        self,
        job: JobRecord,
        expected_version: int,
        events: Iterable[EventRecord] = (),
        metrics: Iterable[MetricRecord] = (),
        report: ReportRecord | None = None,
        scales: Iterable[tuple[int, float]] = (),
    ) -> None:
        """Replaces the job row, if it still holds `expected_version`, and appends its new
        history (events, metrics, the report, scale entries), in one transaction. NotFound when the job is gone, VersionConflict when its
        version moved on; either way nothing is written."""

    def update_job_locked(self, job_id: str, plan: Callable[[JobRecord], JobUpdate | None]) -> JobUpdate | None:
        """Holds the job's row, calls `plan(current row)` and writes the update it returns (None:
        nothing), in one transaction: no other writer can change the job in between. Reads the
        plan makes on this store, from this thread, see the held row's data. NotFound when
        there is no such job; an error `plan` raises writes nothing and propagates."""

    def listen(self, listener: ChangeListener) -> None:
        """Tells `listener` of every commit made through other handles (nothing, where no other
        handle can write)."""

    def sync_point(self) -> SyncPoint:
        """See SyncPoint; `as_of` is infinite for a store no other server writes."""

    def list_events(self, job_id: str, since_version: int, limit: int) -> list[EventRecord]:
        """Events with version > since_version, in version order, at most `limit`."""

    def load_report(self, job_id: str, step: int) -> ReportRecord | None: ...

    def metric_names(self, job_id: str, step: int) -> set[str]:
        """Names of metrics already recorded for (job, step): the idempotency key of reports."""

    def register_replica(self, replica_id: str, address: str) -> None:
        """Records (or replaces) the address replica `replica_id` advertises, and the store's time
        now as its last heartbeat."""

    def claim_owner(self, job_id: str, create_time: float, replica_id: str) -> OwnerRecord | None:
        """The owner of the job incarnation created at `create_time`: `replica_id`, at epoch 1,
        if it had none, else the one it has. Of concurrent claims exactly one wins, and every
        claimant gets the winner's record. None (nothing written) when that incarnation does not
        exist."""

    def load_owner(self, job_id: str, create_time: float) -> OwnerRecord | None:
        """The incarnation's owner; None when it has none (or does not exist)."""

    def commit_snapshot(self, job_id: str, create_time: float, replica_id: str, epoch: int,
                        step: int) -> OwnerRecord | None:
        """Records `step` as the incarnation's last durable snapshot if `replica_id` still owns it
        at `epoch` (one conditional write: the fence); returns the owner as it is afterwards,
        None when it has none. The caller was fenced when that is not itself at `epoch`."""

    def move_owner(self, job_id: str, create_time: float, expected_epoch: int,
                   replica_id: str) -> OwnerRecord | None:
        """Gives the incarnation to `replica_id` at `expected_epoch` + 1 if its owner is still at
        `expected_epoch` (a compare-and-swap: of concurrent moves one wins), keeping its
        snapshot step; returns the owner as it is afterwards, None when it has none. This is the
        step a takeover takes (taking a job over from shared snapshots is not built yet); the
        old owner is fenced from then on."""

    def count_jobs(self) -> dict[str, int]:
        """Number of jobs by state ("active", "stopped")."""

    def close(self) -> None: ...
