"""Domain values <-> the plain records a store persists (policy state and metrics as JSON)."""
from __future__ import annotations

import json
from typing import Callable

from lrctl.server import policies
from lrctl.server.jobs.model import JobEvent, JobSpec, JobView
from lrctl.server.store import EventRecord, JobRecord


def job_record(view: JobView, all_scales: bool = False) -> JobRecord:
    """The row of a view; the scale history travels apart (scale_entries), except for a job
    being inserted (`all_scales`)."""
    return JobRecord(view.job_id, view.spec.document, view.idempotency_key, view.status,
                     json.dumps(policies.state_to_dict(view.state, with_scales=False)), view.version,
                     view.policy_version, view.skipped_nonfinite_metrics, view.create_time, view.update_time,
                     tuple(view.state.plateau.scales) if all_scales else ())


def scale_entries(new: JobView, old: JobView) -> tuple[tuple[int, float], ...]:
    """The scale-history entries a write from `old` to `new` adds (a short tail, O(1) per report)."""
    return new.state.plateau.scales.since(old.state.plateau.scales)


def job_view(record: JobRecord, decode_spec: Callable[[str], JobSpec]) -> JobView:
    return JobView(record.job_id, decode_spec(record.spec_json), record.idempotency_key,
                   policies.state_from_dict(json.loads(record.state_json), record.scales), record.version,
                   record.policy_version, record.skipped_nonfinite_metrics, record.create_time,
                   record.update_time)


def event_record(event: JobEvent) -> EventRecord:
    return EventRecord(event.job_id, event.version, event.kind, event.step, event.lr, event.reason,
                       event.time, json.dumps(dict(event.metrics)), event.count, event.first_step)


def job_event(record: EventRecord) -> JobEvent:
    return JobEvent(record.job_id, record.version, record.kind, record.step, record.lr, record.reason,
                    record.time, json.loads(record.metrics_json), record.count, record.first_step)
