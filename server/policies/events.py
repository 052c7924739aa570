"""Job events: every kind by its domain name, and the event a policy emits.

The names are the proto's EventKind values without the EVENT_KIND_ prefix, lower-cased
(EVENT_KIND_EARLY_STOP is "early_stop"); the service derives its enum mapping from
JOB_EVENT_KINDS by that rule, and a test holds the two to each other. Kinds are plain
strings because they are stored and counted as they are.
"""
from __future__ import annotations

from dataclasses import dataclass

CREATED = "created"
REDUCED = "reduced"
INCREASED = "increased"
RESTART = "restart"
EARLY_STOP = "early_stop"
OVERRIDE_SET = "override_set"
OVERRIDE_CLEARED = "override_cleared"
POLICY_UPDATED = "policy_updated"
METRICS = "metrics"
"""A report that changed nothing else: its metrics (stored, so the event log has every version)."""

EVENT_KINDS = (REDUCED, INCREASED, RESTART, EARLY_STOP)
"""The kinds `observe` emits: what the policy itself decides."""

JOB_EVENT_KINDS = (CREATED, *EVENT_KINDS, OVERRIDE_SET, OVERRIDE_CLEARED, POLICY_UPDATED, METRICS)
"""Every kind a job's event log or stream can hold, in the proto enum's order."""


@dataclass(frozen=True, slots=True)
class Event:
    """Something a watcher wants to hear about: kind in EVENT_KINDS, at `step`, with the LR
    of that step after the report.

    One event may stand for `count` occurrences: the warm restarts one report passes, the
    first at `first_step` and the last at `step`, so that a report that jumps far ahead makes
    one event, not one per restart.
    """

    kind: str
    step: int
    lr: float
    count: int = 1
    first_step: int | None = None
    """None when count is 1 (the occurrence is at `step`)."""
