"""Domain-friendly views of the server's answers: decisions and events."""
from __future__ import annotations

from dataclasses import dataclass, field

from lrctl.v1 import controller_pb2

EVENT_PREFIX = "EVENT_KIND_"


@dataclass(frozen=True)
class Event:
    """One job event: kind is e.g. "reduced", "restart", "early_stop", "override_set".

    A "restart" event stands for every warm restart one report passed: `count` of them, the
    first at `first_step` and the last at `step` (count 1 and first_step == step otherwise)."""

    kind: str
    version: int
    step: int
    lr: float
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    count: int = 1
    first_step: int = 0

    @classmethod
    def from_proto(cls, event: controller_pb2.JobEvent) -> "Event":
        kind = controller_pb2.EventKind.Name(event.kind).removeprefix(EVENT_PREFIX).lower()
        return cls(kind, event.version, event.step, event.lr, event.reason, dict(event.metrics),
                   max(event.count, 1), event.first_step if event.count > 1 else event.step)


@dataclass(frozen=True)
class Decision:
    """The server's answer to a report: `lr` equals torch's LR right after the same plateau step.

    `duplicate_metrics` were already recorded for this step (not counted again);
    `unused_metrics` are read by no part of the job's policy (stored, but they change nothing).
    `pending` is True when no server answered: the report is queued (lrctl.outage), `lr` and
    `should_stop` are the last known, and the server's decision is not known yet."""

    lr: float
    should_stop: bool
    version: int
    events: tuple[Event, ...]
    duplicate_metrics: tuple[str, ...]
    unused_metrics: tuple[str, ...] = ()
    pending: bool = False

    @classmethod
    def from_proto(cls, reply: controller_pb2.ReportMetricsResponse) -> "Decision":
        return cls(reply.lr, reply.should_stop, reply.version, tuple(Event.from_proto(e) for e in reply.events),
                   tuple(reply.duplicate_metrics), tuple(reply.unused_metrics))
