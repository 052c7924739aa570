"""Jobs: one job's state and lock, and the registry that creates, finds and changes them.

Every change follows one path: compute the new immutable JobView under the job's lock,
write it durably to the store, then swap it in and publish its events. A store failure
therefore changes nothing, and readers (GetLearningRate) never take a lock: they read
whichever complete JobView is current.
"""
from __future__ import annotations

import collections
import json
import math
import queue
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping

import numpy as np

from lrctl.server import metrics, optim, policies
from lrctl.server.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from lrctl.server.lease_cache import LeaseCache
from lrctl.server.store import EventRecord, JobRecord, MetricRecord, ReportRecord, Store

JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
METRIC_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]{0,127}")
MAX_STEP = (1 << 63) - 1
"""Steps and versions are uint64 on the wire, but int64 in SQLite and in the policies' NumPy math."""
MAX_TOKENS_PER_JOB = 64
"""Bearer tokens one job may have: its CreateJob and each idempotent replay issue one."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep one caller from exhausting the server (DESIGN §6)."""

    max_horizon: int = 100_000
    max_metrics_per_report: int = 64
    max_page_size: int = 1000
    max_jobs: int = 100_000
    max_watchers_per_job: int = 64


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a job was created with: the parsed policy and optimizer, and the canonical JSON
    they came from.

    `document` is the spec in protobuf's JSON mapping with sorted keys, so equal specs
    have equal documents (that is how an idempotent CreateJob recognises a retry).
    `optimizer` is None for a job that uses the control plane only.
    """

    policy: policies.Policy
    document: str
    optimizer: optim.OptimizerConfig | None = None
    snapshot_every_steps: int = 0


@dataclass(frozen=True, slots=True)
class JobEvent:
    job_id: str
    version: int
    kind: str
    step: int
    lr: float
    reason: str = ""
    time: float = 0.0
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobView:
    """A complete, immutable picture of one job at one version."""

    job_id: str
    spec: JobSpec
    idempotency_key: str
    state: policies.PolicyState
    version: int
    policy_version: int
    skipped_nonfinite_metrics: int
    create_time: float
    update_time: float

    @property
    def should_stop(self) -> bool:
        return self.state.early_stopping.should_stop

    @property
    def status(self) -> str:
        """"stopped" once early stopping said so, else "active"."""
        return "stopped" if self.should_stop else "active"

    def lr_at(self, step: int) -> float:
        return policies.lr_at_step(self.spec.policy, self.state, step)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one ReportMetrics."""

    lr: float
    should_stop: bool
    version: int
    events: tuple[JobEvent, ...]
    duplicate_metrics: tuple[str, ...]


class Subscription:
    """A WatchJob listener: events arrive on `events`; None means the job is gone."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[JobEvent | None] = queue.SimpleQueue()


class _Job:
    __slots__ = ("view", "lock", "subscriptions")

    def __init__(self, view: JobView) -> None:
        self.view = view
        self.lock = threading.Lock()
        self.subscriptions: list[Subscription] = []


class JobRegistry:
    """All jobs of one server. Jobs load lazily from the store, so start-up is instant."""

    def __init__(self, store: Store, decode_spec: Callable[[str], JobSpec], limits: Limits = Limits(),
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._decode_spec = decode_spec
        self.limits = limits
        self._clock = clock
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._lease_cache = LeaseCache()
        self._counts = collections.Counter(store.count_jobs())
        self._delete_hooks: list[Callable[[str], None]] = []
        self.closing = False
        """Set by close(): an ended watch then means "watch again", not "the job is gone"."""
        metrics.set_job_counts(self._counts)

    def on_delete(self, hook: Callable[[str], None]) -> None:
        """Calls `hook(job_id)` after a job is deleted (the data plane drops its arrays)."""
        self._delete_hooks.append(hook)

    def _recount(self, removed: str | None, added: str | None) -> None:
        """Keeps lrctl_jobs{state} current without querying the store."""
        with self._lock:
            if removed:
                self._counts[removed] -= 1
            if added:
                self._counts[added] += 1
            metrics.set_job_counts(self._counts)

    # ---- lookup -------------------------------------------------------------------
    def _job(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        check_job_id(job_id)
        with self._lock:
            return self._jobs.get(job_id) or self._load_into_cache(job_id)

    def get(self, job_id: str) -> JobView:
        return self._job(job_id).view

    def list(self, after_job_id: str, page_size: int) -> list[JobView]:
        return [self._cached_or(record) for record in self._store.list_jobs(after_job_id, page_size)]

    def _cached_or(self, record: JobRecord) -> JobView:
        job = self._jobs.get(record.job_id)
        return job.view if job is not None else self._view_from_record(record)

    # ---- lifecycle ----------------------------------------------------------------
    def decode_spec(self, document: str) -> JobSpec:
        """The JobSpec of a spec document (an imported job's); InvalidArgument if it is not one."""
        return self._decode_spec(document)

    def create(self, job_id: str, spec: JobSpec, idempotency_key: str = "",
               state: policies.PolicyState | None = None, token_hash: str = "") -> JobView:
        """Registers a job, with fresh policy state or, for an imported job, the given `state`.

        `token_hash` (of the bearer token the caller will be answered) is stored with the job
        in one transaction; an idempotent replay adds it as one more token of the job, so
        every caller that got an answer holds a working token.
        """
        check_job_id(job_id)
        with self._lock:
            try:
                existing = self._jobs.get(job_id) or self._load_into_cache(job_id)
            except NotFound:
                existing = None
            if existing is not None:
                view = existing.view
                if idempotency_key and view.idempotency_key == idempotency_key and view.spec.document == spec.document:
                    if token_hash:
                        self._add_token(job_id, token_hash)
                    return view
                raise AlreadyExists(f"job {job_id!r} already exists")
            self.check_room()
            now = self._clock()
            view = JobView(job_id, spec, idempotency_key, state or policies.initial_state(spec.policy), version=1,
                           policy_version=1, skipped_nonfinite_metrics=0, create_time=now, update_time=now)
            created = JobEvent(job_id, 1, "created", 0, view.lr_at(0), "imported" if state else "", now)
            self._store.insert_job(self._record(view), [_event_record(created)], token_hash)
            self._jobs[job_id] = _Job(view)
            self._counts[view.status] += 1
            metrics.set_job_counts(self._counts)
            return view

    def _add_token(self, job_id: str, token_hash: str) -> None:
        """Called under self._lock, which every token insert takes, so the count cannot race."""
        if self._store.count_job_tokens(job_id) >= MAX_TOKENS_PER_JOB:
            raise ResourceExhausted(f"job {job_id!r} has {MAX_TOKENS_PER_JOB} tokens, the limit per job "
                                    f"(each CreateJob replay issues one more)")
        if not self._store.add_job_token(job_id, token_hash):
            raise NotFound(f"job {job_id!r} not found")

    def job_of_token(self, token_hash: str) -> str | None:
        """The id of the job a bearer token's hash belongs to, if any."""
        return self._store.job_of_token(token_hash)

    def check_room(self) -> None:
        """Refuses a new job once the server holds max_jobs (create checks again, under its lock)."""
        if sum(self._counts.values()) >= self.limits.max_jobs:
            raise ResourceExhausted(f"job limit reached: {self.limits.max_jobs} jobs (--max-jobs)")

    def _load_into_cache(self, job_id: str) -> _Job:
        record = self._store.load_job(job_id)
        if record is None:
            raise NotFound(f"job {job_id!r} not found")
        job = self._jobs[job_id] = _Job(self._view_from_record(record))
        return job

    def delete(self, job_id: str) -> None:
        job = self._job(job_id)
        with job.lock:
            if not self._store.delete_job(job_id):
                raise NotFound(f"job {job_id!r} not found")
            with self._lock:
                self._jobs.pop(job_id, None)
            self._lease_cache.forget(job_id)
            for subscription in job.subscriptions:
                subscription.events.put(None)
            job.subscriptions.clear()
            self._recount(job.view.status, None)
            metrics.job_deleted(job_id)
            for hook in self._delete_hooks:
                hook(job_id)

    # ---- the learning rate --------------------------------------------------------
    def learning_rates(self, job_id: str, step: int, horizon: int) -> tuple[np.ndarray, JobView]:
        """LRs for [step, step + horizon) and the view they were computed from."""
        horizon = horizon or 1
        if horizon > self.limits.max_horizon:
            raise ResourceExhausted(f"horizon {horizon} is over the limit of {self.limits.max_horizon} steps")
        check_counter("step", step + horizon - 1)
        view = self._job(job_id).view
        lrs = self._lease_cache.learning_rates(
            job_id, view.version, step, horizon, lambda steps: policies.lr_at(view.spec.policy, view.state, steps))
        metrics.observe_learning_rate(job_id, step, float(lrs[0]))
        return lrs, view

    # ---- changes ------------------------------------------------------------------
    def report(self, job_id: str, step: int, values: Mapping[str, float]) -> Decision:
        check_counter("step", step)
        job = self._job(job_id)
        self._check_metric_names(values)
        policy = job.view.spec.policy
        finite = {name: value for name, value in values.items() if math.isfinite(value)}
        skipped = len(values) - len(finite)
        if skipped and policy.on_nonfinite_metric == "reject":
            raise InvalidArgument([FieldViolation(f"metrics[{name}]", f"must be finite, got {value}")
                                   for name, value in values.items() if not math.isfinite(value)])
        with job.lock:
            view = job.view
            last = view.state.last_report_step
            recorded = self._store.metric_names(job_id, step) if step <= last else set()
            duplicates = tuple(sorted(set(finite) & recorded))
            fresh = {name: value for name, value in finite.items() if name not in recorded}
            if step < last and fresh:
                raise FailedPrecondition(
                    f"stale step {step}: job {job_id!r} already has metrics for step {last}",
                    server_step=last, requested_step=step)
            if not fresh and not skipped:
                return self._repeat_decision(view, step, duplicates)
            state, policy_events = policies.observe(policy, view.state, step, fresh) if fresh else (view.state, ())
            now = self._clock()
            events = tuple(JobEvent(job_id, view.version + i, e.kind, e.step, e.lr, time=now, metrics=fresh)
                           for i, e in enumerate(policy_events, start=1))
            version = view.version + max(len(events), 1)
            new_view = replace(view, state=state, version=version, update_time=now,
                               skipped_nonfinite_metrics=view.skipped_nonfinite_metrics + skipped)
            lr = new_view.lr_at(step)
            self._store.update_job(
                self._record(new_view),
                events=[_event_record(e) for e in events],
                metrics=[MetricRecord(job_id, step, name, value) for name, value in fresh.items()],
                report=ReportRecord(job_id, step, lr, new_view.should_stop, version))
            published = events or (JobEvent(job_id, version, "metrics", step, lr, time=now, metrics=fresh),)
            self._commit(job, new_view, published)
            metrics.count_events(job_id, [e.kind for e in events] + ["nonfinite_metric"] * skipped)
            return Decision(lr, new_view.should_stop, version, events, duplicates)

    def _repeat_decision(self, view: JobView, step: int, duplicates: tuple[str, ...]) -> Decision:
        """A retried report: the decision it got the first time, nothing counted again."""
        record = self._store.load_report(view.job_id, step)
        if record is None:
            return Decision(view.lr_at(step), view.should_stop, view.version, (), duplicates)
        return Decision(record.lr, record.should_stop, record.version, (), duplicates)

    def _check_metric_names(self, values: Mapping[str, float]) -> None:
        if not values:
            raise InvalidArgument(FieldViolation("metrics", "must name at least one metric"))
        if len(values) > self.limits.max_metrics_per_report:
            raise ResourceExhausted(f"metrics limit exceeded: {len(values)} metrics in one report, over the limit "
                                    f"of {self.limits.max_metrics_per_report} (--max-metrics-per-report)")
        bad = [FieldViolation(f"metrics[{name}]", "metric names must match [A-Za-z_][A-Za-z0-9_.:/-]*")
               for name in values if not METRIC_NAME_PATTERN.fullmatch(name)]
        if bad:
            raise InvalidArgument(bad)

    def update_policy(self, job_id: str, spec: JobSpec, expected_policy_version: int, reason: str) -> JobView:
        job = self._job(job_id)
        with job.lock:
            view = job.view
            if expected_policy_version and expected_policy_version != view.policy_version:
                raise FailedPrecondition(
                    f"policy_version is {view.policy_version}, not {expected_policy_version}")
            return self._change(job, replace(view, spec=spec, policy_version=view.policy_version + 1),
                                "policy_updated", reason)

    def set_override(self, job_id: str, override: policies.Override) -> JobView:
        job = self._job(job_id)
        with job.lock:
            view = job.view
            return self._change(job, replace(view, state=replace(view.state, override=override)),
                                "override_set", override.reason)

    def clear_override(self, job_id: str, reason: str) -> JobView:
        job = self._job(job_id)
        with job.lock:
            view = job.view
            if view.state.override is None:
                return view
            return self._change(job, replace(view, state=replace(view.state, override=None)),
                                "override_cleared", reason)

    def _change(self, job: _Job, changed: JobView, kind: str, reason: str) -> JobView:
        """An operator change: one audited event at the job's latest reported step."""
        now = self._clock()
        step = max(changed.state.last_report_step, 0)
        new_view = replace(changed, version=changed.version + 1, update_time=now)
        event = JobEvent(job.view.job_id, new_view.version, kind, step, new_view.lr_at(step), reason, now)
        self._store.update_job(self._record(new_view), events=[_event_record(event)])
        self._commit(job, new_view, [event])
        metrics.count_events(new_view.job_id, [kind])
        return new_view

    def _commit(self, job: _Job, view: JobView, events: Iterable[JobEvent]) -> None:
        if view.status != job.view.status:
            self._recount(job.view.status, view.status)
        job.view = view
        for event in events:
            for subscription in job.subscriptions:
                subscription.events.put(event)

    # ---- history and watching -----------------------------------------------------
    def events(self, job_id: str, since_version: int, limit: int) -> list[JobEvent]:
        check_counter("since_version", since_version)
        self._job(job_id)
        size = min(limit or 100, self.limits.max_page_size)
        return [_event_from_record(r) for r in self._store.list_events(job_id, since_version, size)]

    def subscribe(self, job_id: str) -> Subscription:
        job = self._job(job_id)
        subscription = Subscription()
        with job.lock:
            if len(job.subscriptions) >= self.limits.max_watchers_per_job:
                raise ResourceExhausted(f"watcher limit reached: {self.limits.max_watchers_per_job} WatchJob streams "
                                        f"on job {job_id!r} (--max-watchers-per-job)")
            job.subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, job_id: str, subscription: Subscription) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            with job.lock:
                if subscription in job.subscriptions:
                    job.subscriptions.remove(subscription)

    def close(self) -> None:
        """Ends every watch stream (graceful shutdown)."""
        self.closing = True
        with self._lock:
            for job in self._jobs.values():
                for subscription in job.subscriptions:
                    subscription.events.put(None)

    # ---- records ------------------------------------------------------------------
    def _record(self, view: JobView) -> JobRecord:
        return JobRecord(view.job_id, view.spec.document, view.idempotency_key, view.status,
                         json.dumps(policies.state_to_dict(view.state)), view.version, view.policy_version,
                         view.skipped_nonfinite_metrics, view.create_time, view.update_time)

    def _view_from_record(self, record: JobRecord) -> JobView:
        return JobView(record.job_id, self._decode_spec(record.spec_json), record.idempotency_key,
                       policies.state_from_dict(json.loads(record.state_json)), record.version,
                       record.policy_version, record.skipped_nonfinite_metrics, record.create_time,
                       record.update_time)


def check_counter(field: str, value: int) -> None:
    """INVALID_ARGUMENT for a step or version the store and the policies cannot hold."""
    if value > MAX_STEP:
        raise InvalidArgument(FieldViolation(field, f"must be at most 2^63 - 1, got {value}"))


def check_job_id(job_id: str) -> None:
    """INVALID_ARGUMENT for an id no job can have, so every call naming one is refused alike."""
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise InvalidArgument(FieldViolation(
            "job_id", "must match [A-Za-z0-9][A-Za-z0-9._-]* and be at most 128 characters"))


def _event_record(event: JobEvent) -> EventRecord:
    return EventRecord(event.job_id, event.version, event.kind, event.step, event.lr, event.reason,
                       event.time, json.dumps(dict(event.metrics)))


def _event_from_record(record: EventRecord) -> JobEvent:
    return JobEvent(record.job_id, record.version, record.kind, record.step, record.lr, record.reason,
                    record.time, json.loads(record.metrics_json))
