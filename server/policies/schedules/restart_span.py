"""RestartSpan: the warm restarts a schedule passes between two times, as one value.

A report can jump any number of steps ahead, so a schedule never lists its restarts: it
counts them in closed form (or by a binary search over its cycles) and names the first and
the last. That keeps a report's events, its reply and the work behind them bounded however
far it jumps (t_0 1 and a jump of 10^9 steps is still one event).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RestartSpan:
    """`count` >= 1 restarts, the first at time `first`, the last at `last` (first <= last)."""

    count: int
    first: int
    last: int

    def shifted(self, offset: int, scale: int = 1) -> "RestartSpan":
        """The same restarts at `offset + time * scale` (a child's times in its parent's, or
        schedule times in steps)."""
        return RestartSpan(self.count, offset + self.first * scale, offset + self.last * scale)


def merged(spans: list["RestartSpan | None"]) -> RestartSpan | None:
    """The spans of disjoint, increasing time ranges, as one (None when there are none)."""
    present = [span for span in spans if span is not None]
    if not present:
        return None
    return RestartSpan(sum(span.count for span in present), present[0].first, present[-1].last)


def overlaid(spans: list["RestartSpan | None"]) -> RestartSpan | None:
    """The spans of schedules that run over the same times (a chain's), as one: the counts
    add up (two restarting at one time count twice, an upper bound that stays O(1) to
    compute), first and last are the earliest and the latest (None when there are none)."""
    present = [span for span in spans if span is not None]
    if not present:
        return None
    return RestartSpan(sum(span.count for span in present), min(span.first for span in present),
                       max(span.last for span in present))


def restarts_of(schedule: object, after: int, up_to: int) -> RestartSpan | None:
    """The warm restarts `schedule` passes at its times in (after, up_to]: its `restarts` where
    it has one (cosine_restarts; sequential and chained ask their children), else None."""
    restarts = getattr(schedule, "restarts", None)
    return None if restarts is None else restarts(after, up_to)
