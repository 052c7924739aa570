"""Plain records the store persists; the jobs layer converts them to and from domain state."""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job as stored: spec and policy state as JSON documents; `state` ("active" or
    "stopped") and counters as columns, so they can be counted without parsing JSON."""

    job_id: str
    spec_json: str
    idempotency_key: str
    state: str
    state_json: str
    version: int
    policy_version: int
    skipped_nonfinite_metrics: int
    create_time: float
    update_time: float
    scales: tuple[tuple[int, float], ...] = ()
    """The plateau's (from_step, scale) history, kept as rows of its own so that a report
    writes the entry it adds, not the history: complete from load_job and the row
    update_job_locked holds, only the latest entry from list_jobs (enough for the current
    LR). insert_job writes all of them; an update writes JobUpdate.scales."""


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One entry of a job's event log; operator kinds with a reason form the audit log.

    Every event has its own job version, so (job_id, version) orders the log totally.
    """

    job_id: str
    version: int
    kind: str
    step: int
    lr: float
    reason: str
    time: float
    metrics_json: str = "{}"
    count: int = 1
    """Occurrences this entry stands for: the warm restarts one report passed are one entry."""
    first_step: int | None = None
    """Step of the first of `count` occurrences; None when it is `step` (a single one)."""


EVENT_COLUMNS = ", ".join(column.name for column in fields(EventRecord))
"""The events table's columns in EventRecord's order: `EventRecord(*row)` reads a row."""


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """The decision a (job, step) report got, returned again to a retried report."""

    job_id: str
    step: int
    lr: float
    should_stop: bool
    version: int


@dataclass(frozen=True, slots=True)
class MetricRecord:
    job_id: str
    step: int
    name: str
    value: float


@dataclass(frozen=True, slots=True)
class JobUpdate:
    """What one change of a job writes: the new row and the history it appends."""

    job: JobRecord
    events: tuple[EventRecord, ...] = ()
    metrics: tuple[MetricRecord, ...] = ()
    report: ReportRecord | None = None
    scales: tuple[tuple[int, float], ...] = ()
    """Scale-history entries this change adds, or replaces at the same from_step."""


@dataclass(frozen=True, slots=True)
class OwnerRecord:
    """The replica that holds a data-plane job's arrays, for one incarnation of the job (its
    `create_time`). `epoch` is 1 at the first claim and grows by one at every change of owner:
    it fences a replica that still acts under an older one. `snapshot_step` is the step of the
    last snapshot the owner committed under its epoch (-1: none yet). `address` is what the
    owner advertises ("" if it never registered) and `silent_seconds` how long ago, by the
    store's clock, it last did (infinite if never)."""

    job_id: str
    create_time: float
    replica_id: str
    epoch: int
    snapshot_step: int
    address: str
    silent_seconds: float
