"""Sequential: torch SequentialLR, schedules one after another, each in its own time."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES, PolicyContext, with_policy_defaults
from lrctl.server.policies.schedules.nesting import check_children
from lrctl.server.policies.schedules.restart_span import RestartSpan, merged, restarts_of
from lrctl.server.validation import Checks, is_int


@SCHEDULES.register("sequential")
@dataclass(frozen=True, slots=True)
class Sequential:
    """schedules[i] from milestones[i - 1] (schedules[0] from 0) until milestones[i], its own
    time starting at 0 at its milestone, as torch SequentialLR restarts each scheduler with
    step(0). Every child starts from the policy's lr.

    Its peak is the largest of its children's peaks over all their times, an upper bound:
    a child that would overflow only after its milestone still needs max_lr. The start of a
    child is no warm restart (as a schedule's time 0 is none); its own restarts are.
    """

    schedules: tuple[Any, ...]
    milestones: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedules", tuple(self.schedules))
        object.__setattr__(self, "milestones", tuple(self.milestones))
        checks = Checks()
        check_children(self.schedules, checks)
        m = self.milestones
        checks.require(all(is_int(x) and x >= 1 for x in m) and all(a < b for a, b in zip(m, m[1:])),
                       "milestones", m, "must be strictly increasing integers >= 1")
        checks.require(len(m) == len(self.schedules) - 1, "milestones", m,
                       f"must have len(schedules) - 1 = {len(self.schedules) - 1} entries")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        which = np.searchsorted(np.asarray(self.milestones, dtype=np.int64), t, side="right")
        out = np.empty(t.shape)
        for i, (start, child) in enumerate(zip((0, *self.milestones), self.schedules)):
            here = which == i
            if here.any():
                out[here] = child.lr(base_lr, t[here] - start)
        return out

    def peak(self, base_lr: float) -> float:
        return max(child.peak(base_lr) for child in self.schedules)

    def restarts(self, after: int, up_to: int) -> RestartSpan | None:
        """Each child's restarts in the part of (after, up_to] it runs, at its milestone on."""
        spans = []
        bounds = (0, *self.milestones, None)
        for start, end, child in zip(bounds, bounds[1:], self.schedules):
            low, high = max(after, start - 1), up_to if end is None else min(up_to, end - 1)
            span = restarts_of(child, low - start, high - start) if high > low else None
            spans.append(None if span is None else span.shifted(start))
        return merged(spans)

    def with_policy_defaults(self, context: PolicyContext) -> "Sequential":
        return dataclasses.replace(self, schedules=tuple(with_policy_defaults(s, context) for s in self.schedules))
