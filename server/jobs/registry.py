"""JobRegistry: every job of one server, found, created, changed and deleted in one way.

Every change follows one path (`_mutate`): under the job's lock, compute the new immutable
JobView from the current one, write it to the store as a compare-and-swap on the version it
was computed from, then swap it in and wake the job's watchers. A store failure or a lost
compare-and-swap therefore changes nothing; a lost one (another replica wrote first) is
computed again from the stored row while the store holds it (`update_job_locked`), so it
cannot lose twice. A job deleted while a change waited for its lock stays deleted: the change
sees `deleted`, and the store's CAS refuses a write to a row that is gone. Readers
(GetLearningRate) never take a lock: they read whichever complete JobView is current. A
change whose caller's deadline passed while it was computed is not written (deadlines.check
before the store).

On a shared store (replicas) the cached views follow the store's change feed: a commit on
another replica marks the view stale and wakes the job's watchers, and no view older than
the staleness bound is served (freshness.py).

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
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    LrctlError,
    NotFound,
    ResourceExhausted,
    VersionConflict,
)
from lrctl.server.jobs.freshness import Checked, Freshness, later
from lrctl.server.jobs.model import Decision, JobEvent, JobSpec, JobView
from lrctl.server.jobs.names import check_counter, check_job_id, check_metric_names
from lrctl.server.jobs.records import event_record, job_event, job_record, job_view, scale_entries
from lrctl.server.jobs.tokens import JobTokens
from lrctl.server.jobs.watchers import Subscription, Watchers
from lrctl.server.lease_cache import BLOCK_STEPS, LeaseCache
from lrctl.server.metrics import ServerMetrics
from lrctl.server.pause_points import PausePoint, no_pause
from lrctl.server.store import JobRecord, JobUpdate, MetricRecord, ReportRecord, Store

T = TypeVar("T")


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
    counted: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A change's answer to its caller, and what it writes (None: nothing, e.g. a retried report)."""

    result: object
    write: _Write | None = None


class _Job:
    """A cached job: its view, when that was known current (`checked`), the newest version the
    change feed announced (`known_version`), and how often it said to read the job again
    whatever its version (`forgets`; the view is stale until a read begun after the last one)."""

    __slots__ = ("view", "lock", "deleted", "checked", "known_version", "forgets", "rechecked")

    def __init__(self, view: JobView, checked: Checked) -> None:
        self.view = view
        self.lock = threading.Lock()
        self.deleted = False
        self.checked = checked
        self.known_version = view.version
        self.forgets = self.rechecked = 0


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
        self._freshness = Freshness(store)
        self._install_lock = threading.Lock()
        self._counts = _Counts(collections.Counter(store.count_jobs()))
        self._stored_counts = self._counts.snapshot()
        self._delete_hooks: list[Callable[[str], None]] = []
        self._watchers = Watchers(limits.max_watchers_per_job)
        self.tokens = JobTokens(store)
        self.closing = False
        """Set by close(): an ended watch then means "watch again", not "the job is gone"."""
        metrics.read_at_scrape(job_counts=self.counts)
        self.on_delete(self.tokens.forget_job)
        store.listen(self)

    def on_delete(self, hook: Callable[[str], None]) -> None:
        """Calls `hook(job_id)` after a job is deleted (the data plane drops its arrays)."""
        self._delete_hooks.append(hook)

    def counts(self) -> dict[str, int]:
        """Jobs by state: this server's, or on a shared store every replica's, read from the
        store (the last good count while the store does not answer)."""
        if not self._store.shared:
            return self._counts.snapshot()
        try:
            self._stored_counts = self._store.count_jobs()
        except LrctlError:
            pass
        return self._stored_counts

    # ---- lookup -------------------------------------------------------------------
    def _job(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        check_job_id(job_id)
        checked = self._freshness.now()
        record = self._store.load_job(job_id)
        if record is None:
            raise NotFound(f"job {job_id!r} not found")
        loaded = _Job(job_view(record, self._decode_spec), checked)
        with self._lock:
            return self._jobs.setdefault(job_id, loaded)

    def _current(self, job: _Job) -> bool:
        return job.forgets == job.rechecked and self._freshness.current(job.checked, job.view.version,
                                                                         job.known_version)

    def get(self, job_id: str) -> JobView:
        job = self._job(job_id)
        return job.view if self._current(job) else self._revalidate(job_id, job).view

    def cached(self, job_id: str) -> JobView | None:
        """The job's view if it is in memory and current (no I/O), else None."""
        job = self._jobs.get(job_id)
        return job.view if job is not None and self._current(job) else None

    def _revalidate(self, job_id: str, job: _Job) -> _Job:
        """Reads the job's row again: the cached view is refreshed when it moved on; a job gone
        from the store, or replaced by a new one of the same id, is forgotten."""
        checked, forgets = self._freshness.now(), job.forgets
        record = self._store.load_job(job_id)
        if record is None or record.create_time != job.view.create_time:
            self._gone(job_id, job)
            if record is None:
                raise NotFound(f"job {job_id!r} not found")
            return self._job(job_id)
        self._install(job, record, checked, forgets)
        return job

    def _install(self, job: _Job, found: JobView | JobRecord, checked: Checked, forgets: int | None = None) -> None:
        """Makes `found` the cached view unless a newer one is there, and records the check.
        Views only move forward, whichever thread installs last."""
        newer = found.version > job.view.version
        view = (found if isinstance(found, JobView) else self._view_of(found, job.view)) if newer else None
        with self._install_lock:
            if view is not None and view.version > job.view.version:
                job.view = view
            job.checked = later(job.checked, checked)
            if forgets is not None:
                job.rechecked = max(job.rechecked, forgets)

    def _view_of(self, record: JobRecord, cached: JobView) -> JobView:
        """The view of a newer row of a cached job; the spec is decoded again only if it changed
        (another replica's report changes the state, not the spec)."""
        return job_view(record, lambda document: cached.spec if document == cached.spec.document
                        else self._decode_spec(document))

    def _gone(self, job_id: str, job: _Job) -> None:
        """Forgets a job another replica deleted: what a local delete does after its commit."""
        if job.deleted:
            return
        self._drop(job_id, job)
        self._lease_cache.forget((job_id, job.view.create_time))
        self._watchers.wake(job_id)
        self._metrics.job_deleted(job_id)
        for hook in self._delete_hooks:
            hook(job_id)

    def list(self, after_job_id: str, page_size: int) -> list[JobView]:
        views = []
        for record in self._store.list_jobs(after_job_id, page_size):
            cached = self.cached(record.job_id)
            views.append(cached if cached is not None and cached.version == record.version
                         else job_view(record, self._decode_spec))
        return views

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
               before_insert: Callable[[JobView], None] | None = None, owner: str = "") -> JobView:
        """Registers a job, with fresh policy state or, for an imported job, the given `state`.

        `token_hash` (of the bearer token the caller will be answered) is stored with the job
        in one transaction; an idempotent replay adds it as one more token of the job, so
        every caller that got an answer holds a working token. `before_insert(view)` runs
        once the job is known to be new, before its row is written, with no other create or
        delete in between (an import writes the job's arrays there, so a job never exists
        without them). `owner` is the replica the row names as the data-plane owner (an
        import's, on a shared store).
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
            checked = self._freshness.now()
            try:
                self._store.insert_job(job_record(view, all_scales=True), [event_record(created)], token_hash, owner)
            except AlreadyExists:
                if not self._store.shared or before_insert is not None:
                    raise
                # Another replica created it meanwhile: the same request retried there is a replay.
                return self._replayed(job_id, spec, idempotency_key, token_hash)
            with self._lock:
                self._jobs[job_id] = _Job(view, checked)
            self._counts.move(None, view.status)
            return view

    def _replayed(self, job_id: str, spec: JobSpec, idempotency_key: str, token_hash: str) -> JobView:
        existing = self.get(job_id)
        if not (idempotency_key and existing.idempotency_key == idempotency_key
                and existing.spec.document == spec.document):
            raise AlreadyExists(f"job {job_id!r} already exists")
        if token_hash:
            self.tokens.add(job_id, token_hash)
        return existing

    def check_room(self) -> None:
        """Refuses a new job once the server holds max_jobs (create checks again, under its lock);
        on a shared store, once the database does (replicas creating at the same instant may
        each add one more)."""
        counts = self._store.count_jobs() if self._store.shared else self._counts.snapshot()
        if sum(counts.values()) >= self.limits.max_jobs:
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
        """Applies `change` to the current view and writes it as a compare-and-swap; a lost swap
        is computed again from the stored row, held by the store (`_change_held`)."""
        job = self._job(job_id)
        if job.view.version < job.known_version or job.forgets != job.rechecked:
            job = self._revalidate(job_id, job)
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
            checked = self._freshness.now()
            try:
                self._store.update_job(job_record(write.view), job.view.version,
                                       events=[event_record(e) for e in write.events],
                                       metrics=write.metrics, report=write.report,
                                       scales=scale_entries(write.view, job.view))
            except VersionConflict:
                outcome = self._change_held(job_id, job, change)
                write = outcome.write
                if write is None:
                    return outcome.result
            except NotFound:
                self._drop(job_id, job)
                raise
            old_status = job.view.status
            self._install(job, write.view, checked)
        if old_status != write.view.status:
            self._counts.move(old_status, write.view.status)
        self._watchers.wake(job_id)
        self._metrics.count_events(job_id, write.counted)
        return outcome.result

    def _change_held(self, job_id: str, job: _Job, change: Callable[[JobView], _Outcome]) -> _Outcome:
        """`change` computed from the stored row while the store holds it (call with job.lock
        held): another writer got there first, and this one cannot lose again."""
        planned: list[tuple[_Outcome, JobView]] = []

        def plan(record: JobRecord) -> JobUpdate | None:
            if record.create_time != job.view.create_time:
                raise NotFound(f"job {job_id!r} not found")  # deleted, and created again, meanwhile
            view = job.view if record.version == job.view.version else self._view_of(record, job.view)
            outcome = change(view)
            planned.append((outcome, view))
            write = outcome.write
            deadlines.check()
            return None if write is None else JobUpdate(
                job_record(write.view), tuple(event_record(e) for e in write.events), write.metrics, write.report,
                scale_entries(write.view, view))

        checked = self._freshness.now()
        try:
            self._store.update_job_locked(job_id, plan)
        except NotFound:
            self._gone(job_id, job)
            raise
        outcome, base = planned[-1]
        self._install(job, base, checked)
        return outcome

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
            events = tuple(JobEvent(job_id, view.version + i, e.kind, e.step, e.lr, time=now, metrics=fresh,
                                    count=e.count, first_step=e.first_step)
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
                counted=(*((e.kind, e.count) for e in events), ("nonfinite_metric", skipped))))

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
        """An operator change: one audited event at the job's latest reported step. It is
        refused if it would let some step's LR reach inf."""
        policies.check_lrs_finite(changed.spec.policy, changed.state)
        now = self._clock()
        step = max(changed.state.last_report_step, 0)
        new_view = replace(changed, version=changed.version + 1, update_time=now)
        event = JobEvent(new_view.job_id, new_view.version, kind, step, new_view.lr_at(step), reason, now)
        return _Outcome(new_view, _Write(new_view, (event,), counted=((kind, 1),)))

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

    @property
    def recheck_seconds(self) -> float | None:
        """How often a watcher that was not woken reads the store anyway, in case the change
        feed missed something (None: never, when the store has no other writers)."""
        return None if self._freshness.always_current else self._freshness.bound

    def coherent(self) -> bool:
        """Whether the change feed alone is keeping this server current (see freshness.py)."""
        return self._freshness.coherent()

    # ---- the change feed (store.listen): called on the store's thread -------------------
    def job_changed(self, job_id: str, version: int, create_time: float) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            with self._install_lock:
                if create_time != job.view.create_time:
                    job.forgets += 1
                else:
                    job.known_version = max(job.known_version, version)
        self._watchers.wake(job_id)

    def job_deleted(self, job_id: str, create_time: float) -> None:
        self.tokens.forget_job(job_id)
        job = self._jobs.get(job_id)
        if job is not None:
            with self._install_lock:
                job.forgets += 1
        self._watchers.wake(job_id)

    def resync(self) -> None:
        self.tokens.forget_all()
        self._watchers.wake_all()

    def close(self) -> None:
        """Wakes every watcher to end its stream (graceful shutdown)."""
        self.closing = True
        self._watchers.wake_all()
