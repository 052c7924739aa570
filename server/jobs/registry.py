"""JobRegistry: every job of one server, found, created, changed and deleted in one way.

Every change follows one path (`_mutate`): under the job's lock, compute the new immutable
JobView from the current one, write it to the store as a compare-and-swap on the version it
was computed from, then swap it in and wake the job's watchers. A store failure or a lost
compare-and-swap therefore changes nothing; a lost one is recomputed from the stored job. A
job deleted while a change waited for its lock stays deleted: the change sees `deleted`, and
the store's CAS refuses a write to a row that is gone. Readers (GetLearningRate) never take a
lock: they read whichever complete JobView is current. A change whose caller's deadline
passed while it was computed is not written (deadlines.check before the store).

Methods block (store I/O, policy math): the service layer runs them off the event loop.
"""
from __future__ import annotations

import collections
import math
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, TypeVar

import numpy as np

from lrctl.server import deadlines, policies
from lrctl.server.policies import events as kinds
from lrctl.server.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    VersionConflict,
)
from lrctl.server.jobs.model import Decision, JobEvent, JobSpec, JobView
from lrctl.server.jobs.names import check_counter, check_job_id, check_metric_names
from lrctl.server.jobs.records import event_record, job_event, job_record, job_view
from lrctl.server.jobs.tokens import JobTokens
from lrctl.server.jobs.watchers import Subscription, Watchers
from lrctl.server.lease_cache import BLOCK_STEPS, LeaseCache
from lrctl.server.metrics import ServerMetrics
from lrctl.server.pause_points import PausePoint, no_pause
from lrctl.server.store import MetricRecord, ReportRecord, Store

T = TypeVar("T")
MAX_CAS_ATTEMPTS = 8
"""Compare-and-swap retries before a change gives up with ABORTED (only concurrent writers on
other replicas can make one lose more than once)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep one caller from exhausting the server (DESIGN §6)."""

    max_horizon: int = 100_000
    max_metrics_per_report: int = 64
    max_page_size: int = 1000
    max_jobs: int = 100_000
    max_watchers_per_job: int = 64


@dataclass(frozen=True, slots=True)
class _Write:
    """What one change writes: the new view and the history it appends."""

    view: JobView
    events: tuple[JobEvent, ...]
    metrics: tuple[MetricRecord, ...] = ()
    report: ReportRecord | None = None
    counted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A change's answer to its caller, and what it writes (None: nothing, e.g. a retried report)."""

    result: object
    write: _Write | None = None


class _Job:
    __slots__ = ("view", "lock", "deleted")

    def __init__(self, view: JobView) -> None:
        self.view = view
        self.lock = threading.Lock()
        self.deleted = False


@dataclass
class _Counts:
    """Jobs by state, kept with every create, delete and state change (read at scrape time)."""

    by_state: collections.Counter = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def move(self, removed: str | None, added: str | None) -> None:
        with self.lock:
            if removed:
                self.by_state[removed] -= 1
            if added:
                self.by_state[added] += 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.by_state)


class JobRegistry:
    """All jobs of one server. Jobs load lazily from the store, so start-up is instant."""

    def __init__(self, store: Store, decode_spec: Callable[[str], JobSpec], metrics: ServerMetrics,
                 limits: Limits = Limits(), clock: Callable[[], float] = time.time,
                 pause: PausePoint = no_pause) -> None:
        self._store = store
        self._decode_spec = decode_spec
        self._metrics = metrics
        self.limits = limits
        self._clock = clock
        self._pause = pause
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._create_lock = threading.Lock()
        self._lease_cache = LeaseCache()
        self._counts = _Counts(collections.Counter(store.count_jobs()))
        self._delete_hooks: list[Callable[[str], None]] = []
        self._watchers = Watchers(limits.max_watchers_per_job)
        self.tokens = JobTokens(store)
        self.closing = False
        """Set by close(): an ended watch then means "watch again", not "the job is gone"."""
        metrics.read_at_scrape(job_counts=self._counts.snapshot)
        self.on_delete(self.tokens.forget_job)

    def on_delete(self, hook: Callable[[str], None]) -> None:
        """Calls `hook(job_id)` after a job is deleted (the data plane drops its arrays)."""
        self._delete_hooks.append(hook)

    def counts(self) -> dict[str, int]:
        return self._counts.snapshot()

    # ---- lookup -------------------------------------------------------------------
    def _job(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        check_job_id(job_id)
        record = self._store.load_job(job_id)
        if record is None:
            raise NotFound(f"job {job_id!r} not found")
        loaded = _Job(job_view(record, self._decode_spec))
        with self._lock:
            return self._jobs.setdefault(job_id, loaded)

    def get(self, job_id: str) -> JobView:
        return self._job(job_id).view

    def cached(self, job_id: str) -> JobView | None:
        """The job's view if it is in memory (no I/O), else None."""
        job = self._jobs.get(job_id)
        return job.view if job is not None else None

    def list(self, after_job_id: str, page_size: int) -> list[JobView]:
        return [self.cached(record.job_id) or job_view(record, self._decode_spec)
                for record in self._store.list_jobs(after_job_id, page_size)]

    def _drop(self, job_id: str, job: _Job) -> None:
        """Forgets a cached job that is gone from the store (deleted here or elsewhere)."""
        job.deleted = True
        with self._lock:
            if self._jobs.get(job_id) is job:
                del self._jobs[job_id]

    # ---- lifecycle ----------------------------------------------------------------
    def decode_spec(self, document: str) -> JobSpec:
        """The JobSpec of a spec document (an imported job's); InvalidArgument if it is not one."""
        return self._decode_spec(document)

    def create(self, job_id: str, spec: JobSpec, idempotency_key: str = "",
               state: policies.PolicyState | None = None, token_hash: str = "",
               before_insert: Callable[[JobView], None] | None = None) -> JobView:
        """Registers a job, with fresh policy state or, for an imported job, the given `state`.

        `token_hash` (of the bearer token the caller will be answered) is stored with the job
        in one transaction; an idempotent replay adds it as one more token of the job, so
        every caller that got an answer holds a working token. `before_insert(view)` runs
        once the job is known to be new, before its row is written, with no other create or
        delete in between (an import writes the job's arrays there, so a job never exists
        without them).
        """
        check_job_id(job_id)
        with self._create_lock:
            try:
                existing = self.get(job_id)
            except NotFound:
                existing = None
            if existing is not None:
                if idempotency_key and existing.idempotency_key == idempotency_key and \
                        existing.spec.document == spec.document:
                    if token_hash:
                        self.tokens.add(job_id, token_hash)
                    return existing
                raise AlreadyExists(f"job {job_id!r} already exists")
            self.check_room()
            now = self._clock()
            view = JobView(job_id, spec, idempotency_key, state or policies.initial_state(spec.policy), version=1,
                           policy_version=1, skipped_nonfinite_metrics=0, create_time=now, update_time=now)
            created = JobEvent(job_id, 1, kinds.CREATED, 0, view.lr_at(0), "imported" if state else "", now)
            if before_insert is not None:
                before_insert(view)
            self._store.insert_job(job_record(view), [event_record(created)], token_hash)
            with self._lock:
                self._jobs[job_id] = _Job(view)
            self._counts.move(None, view.status)
            return view

    def check_room(self) -> None:
        """Refuses a new job once the server holds max_jobs (create checks again, under its lock)."""
        if sum(self._counts.snapshot().values()) >= self.limits.max_jobs:
            raise ResourceExhausted(f"job limit reached: {self.limits.max_jobs} jobs (--max-jobs)")

    def delete(self, job_id: str) -> None:
        """Deletes the job and everything of it; the delete hooks (the data plane dropping its
        arrays and snapshot) run before a job of the same id can be created again."""
        with self._create_lock:
            job = self._job(job_id)
            with job.lock:
                if job.deleted:
                    raise NotFound(f"job {job_id!r} not found")
                self._pause("delete.locked")
                existed = self._store.delete_job(job_id)
                self._drop(job_id, job)
            self._counts.move(job.view.status, None)
            self._lease_cache.forget((job_id, job.view.create_time))
            self._watchers.wake(job_id)
            self._metrics.job_deleted(job_id)
            for hook in self._delete_hooks:
                hook(job_id)
        if not existed:
            raise NotFound(f"job {job_id!r} not found")

    # ---- the learning rate --------------------------------------------------------
    def learning_rates(self, job_id: str, step: int, horizon: int) -> tuple[np.ndarray, JobView]:
        """LRs for [step, step + horizon) and the view they were computed from."""
        horizon = self._checked_horizon(step, horizon)
        return self._learning_rates(self.get(job_id), step, horizon)

    def learning_rates_if_cheap(self, job_id: str, step: int, horizon: int) -> tuple[np.ndarray, JobView] | None:
        """learning_rates, when the job is in memory and the lease spans at most two cached
        blocks (a few µs, no I/O: safe to run on the event loop); None otherwise."""
        horizon = self._checked_horizon(step, horizon)
        view = self.cached(job_id)
        if view is None or horizon > BLOCK_STEPS:
            return None
        return self._learning_rates(view, step, horizon)

    def _checked_horizon(self, step: int, horizon: int) -> int:
        horizon = horizon or 1
        if horizon > self.limits.max_horizon:
            raise ResourceExhausted(f"horizon {horizon} is over the limit of {self.limits.max_horizon} steps")
        check_counter("step", step + horizon - 1)
        return horizon

    def _learning_rates(self, view: JobView, step: int, horizon: int) -> tuple[np.ndarray, JobView]:
        lrs = self._lease_cache.learning_rates(
            (view.job_id, view.create_time), view.version, step, horizon,
            lambda steps: policies.lr_at(view.spec.policy, view.state, steps))
        self._metrics.observe_learning_rate(view.job_id, step, float(lrs[0]))
        return lrs, view

    # ---- changes ------------------------------------------------------------------
    def _mutate(self, job_id: str, change: Callable[[JobView], _Outcome]) -> object:
        """Applies `change` to the current view and writes it as a compare-and-swap; a lost
        swap is recomputed from the stored job, up to MAX_CAS_ATTEMPTS times."""
        for _ in range(MAX_CAS_ATTEMPTS):
            job = self._job(job_id)
            self._pause("mutate.unlocked")
            with job.lock:
                if job.deleted:
                    raise NotFound(f"job {job_id!r} not found")
                outcome = change(job.view)
                write = outcome.write
                if write is None:
                    return outcome.result
                self._pause("mutate.locked")
                deadlines.check()
                try:
                    self._store.update_job(job_record(write.view), job.view.version,
                                           events=[event_record(e) for e in write.events],
                                           metrics=write.metrics, report=write.report)
                except VersionConflict:
                    self._reload(job_id, job)
                    continue
                except NotFound:
                    self._drop(job_id, job)
                    raise
                old_status, job.view = job.view.status, write.view
            if old_status != write.view.status:
                self._counts.move(old_status, write.view.status)
            self._watchers.wake(job_id)
            self._metrics.count_events(job_id, write.counted)
            return outcome.result
        raise Aborted(f"job {job_id!r} kept changing concurrently ({MAX_CAS_ATTEMPTS} attempts): nothing changed, "
                      "retry")

    def _reload(self, job_id: str, job: _Job) -> None:
        """Replaces a cached view that another writer moved past (call with job.lock held)."""
        record = self._store.load_job(job_id)
        if record is None:
            self._drop(job_id, job)
            raise NotFound(f"job {job_id!r} not found")
        job.view = job_view(record, self._decode_spec)

    def report(self, job_id: str, step: int, values: Mapping[str, float]) -> Decision:
        check_counter("step", step)
        check_metric_names(values, self.limits.max_metrics_per_report)

        def change(view: JobView) -> _Outcome:
            policy = view.spec.policy
            finite = {name: value for name, value in values.items() if math.isfinite(value)}
            skipped = len(values) - len(finite)
            if skipped and policy.on_nonfinite_metric == "reject":
                raise InvalidArgument([FieldViolation(f"metrics[{name}]", f"must be finite, got {value}")
                                       for name, value in values.items() if not math.isfinite(value)])
            last = view.state.last_report_step
            recorded = self._store.metric_names(job_id, step) if step <= last else set()
            duplicates = tuple(sorted(set(finite) & recorded))
            fresh = {name: value for name, value in finite.items() if name not in recorded}
            if step < last and fresh:
                raise FailedPrecondition(
                    f"stale step {step}: job {job_id!r} already has metrics for step {last}",
                    server_step=last, requested_step=step)
            if not fresh and not skipped:
                return _Outcome(self._repeat_decision(view, step, duplicates))
            state, policy_events = policies.observe(policy, view.state, step, fresh) if fresh else (view.state, ())
            now = self._clock()
            events = tuple(JobEvent(job_id, view.version + i, e.kind, e.step, e.lr, time=now, metrics=fresh)
                           for i, e in enumerate(policy_events, start=1))
            version = view.version + max(len(events), 1)
            new_view = replace(view, state=state, version=version, update_time=now,
                               skipped_nonfinite_metrics=view.skipped_nonfinite_metrics + skipped)
            lr = new_view.lr_at(step)
            stored = events or (JobEvent(job_id, version, kinds.METRICS, step, lr, time=now, metrics=fresh),)
            return _Outcome(Decision(lr, new_view.should_stop, version, events, duplicates), _Write(
                new_view, stored,
                metrics=tuple(MetricRecord(job_id, step, name, value) for name, value in fresh.items()),
                report=ReportRecord(job_id, step, lr, new_view.should_stop, version),
                counted=tuple(e.kind for e in events) + ("nonfinite_metric",) * skipped))

        return self._mutate(job_id, change)

    def _repeat_decision(self, view: JobView, step: int, duplicates: tuple[str, ...]) -> Decision:
        """A retried report: the decision it got the first time, nothing counted again."""
        record = self._store.load_report(view.job_id, step)
        if record is None:
            return Decision(view.lr_at(step), view.should_stop, view.version, (), duplicates)
        return Decision(record.lr, record.should_stop, record.version, (), duplicates)

    def update_policy(self, job_id: str, spec: JobSpec, expected_policy_version: int, reason: str) -> JobView:
        def change(view: JobView) -> _Outcome:
            if expected_policy_version and expected_policy_version != view.policy_version:
                raise FailedPrecondition(f"policy_version is {view.policy_version}, not {expected_policy_version}")
            return self._operator_change(replace(view, spec=spec, policy_version=view.policy_version + 1),
                                         kinds.POLICY_UPDATED, reason)
        return self._mutate(job_id, change)

    def set_override(self, job_id: str, override: policies.Override) -> JobView:
        return self._mutate(job_id, lambda view: self._operator_change(
            replace(view, state=replace(view.state, override=override)), kinds.OVERRIDE_SET, override.reason))

    def clear_override(self, job_id: str, reason: str) -> JobView:
        def change(view: JobView) -> _Outcome:
            if view.state.override is None:
                return _Outcome(view)
            return self._operator_change(replace(view, state=replace(view.state, override=None)),
                                         kinds.OVERRIDE_CLEARED, reason)
        return self._mutate(job_id, change)

    def _operator_change(self, changed: JobView, kind: str, reason: str) -> _Outcome:
        """An operator change: one audited event at the job's latest reported step."""
        now = self._clock()
        step = max(changed.state.last_report_step, 0)
        new_view = replace(changed, version=changed.version + 1, update_time=now)
        event = JobEvent(new_view.job_id, new_view.version, kind, step, new_view.lr_at(step), reason, now)
        return _Outcome(new_view, _Write(new_view, (event,), counted=(kind,)))

    # ---- history and watching -----------------------------------------------------
    def events(self, job_id: str, since_version: int, limit: int, create_time: float | None = None) -> list[JobEvent]:
        """Stored events after `since_version`, at most `limit` (capped at max_page_size).
        With `create_time`, NotFound once the job is not that incarnation any more."""
        check_counter("since_version", since_version)
        view = self.get(job_id)
        if create_time is not None and view.create_time != create_time:
            raise NotFound(f"job {job_id!r} not found")
        size = min(limit or 100, self.limits.max_page_size)
        return [job_event(r) for r in self._store.list_events(job_id, since_version, size)]

    def watch(self, job_id: str, subscription: Subscription) -> JobView:
        """Registers a watcher (within the per-job limit); returns the job as it is now."""
        view = self.get(job_id)
        self._watchers.add(job_id, subscription)
        return view

    def unwatch(self, job_id: str, subscription: Subscription) -> None:
        self._watchers.remove(job_id, subscription)

    def close(self) -> None:
        """Wakes every watcher to end its stream (graceful shutdown)."""
        self.closing = True
        self._watchers.wake_all()
