"""Chained: torch ChainedScheduler, the product of its schedules' factors."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES, PolicyContext, with_policy_defaults
from lrctl.server.policies.schedules.nesting import check_children
from lrctl.server.policies.schedules.restart_span import RestartSpan, overlaid, restarts_of
from lrctl.server.validation import Checks


@SCHEDULES.register("chained")
@dataclass(frozen=True, slots=True)
class Chained:
    """base_lr times the product of each schedule's factor, its LR / base_lr, at the same time.

    torch's ChainedScheduler steps each scheduler on the LR the others left, which is this
    product for the multiplicative schedulers (StepLR, MultiStepLR, ExponentialLR, ConstantLR,
    LinearLR, PolynomialLR); for one that sets an absolute LR or adds an eta_min (CyclicLR,
    CosineAnnealingLR with eta_min > 0) torch's result depends on the order and the history,
    and lrctl's is the product. Dividing by base_lr keeps an LR-valued field (eta_min,
    end_lr, max_lr) an LR, so a chain of one schedule is that schedule.

    Its peak is base_lr times the product of the children's peak factors: an upper bound,
    as the factors are >= 0 and need not peak at one time.
    """

    schedules: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedules", tuple(self.schedules))
        checks = Checks()
        check_children(self.schedules, checks)
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        out = np.full(t.shape, float(base_lr))
        for child in self.schedules:
            out = out * (child.lr(base_lr, t) / base_lr)
        return out

    def peak(self, base_lr: float) -> float:
        peak = base_lr
        for child in self.schedules:
            peak *= child.peak(base_lr) / base_lr
        return math.inf if math.isnan(peak) else peak

    def restarts(self, after: int, up_to: int) -> RestartSpan | None:
        """Every child's restarts in (after, up_to], added up."""
        return overlaid([restarts_of(child, after, up_to) for child in self.schedules])

    def with_policy_defaults(self, context: PolicyContext) -> "Chained":
        return dataclasses.replace(self, schedules=tuple(with_policy_defaults(s, context) for s in self.schedules))
