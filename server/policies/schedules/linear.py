"""Linear: torch LinearLR, the factor running linearly between two values over total_iters."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.validation import Checks, is_int, is_real


@SCHEDULES.register("linear")
@dataclass(frozen=True, slots=True)
class Linear:
    """torch LinearLR: the factor runs linearly from start_factor to end_factor over total_iters."""

    start_factor: float = 1.0 / 3.0
    end_factor: float = 1.0
    total_iters: int = 5

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_real(self.start_factor) and 0 < self.start_factor <= 1, "start_factor",
                       self.start_factor, "must be in (0, 1]")
        checks.require(is_real(self.end_factor) and 0 <= self.end_factor <= 1, "end_factor",
                       self.end_factor, "must be in [0, 1]")
        checks.require(is_int(self.total_iters) and self.total_iters >= 1, "total_iters", self.total_iters,
                       "must be an integer >= 1")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        """From total_iters on, exactly end_factor: start + (end - start) rounds to -1e-16 for
        some start factors when end_factor is 0, a negative LR."""
        span = self.end_factor - self.start_factor
        ramp = self.start_factor + span * np.minimum(t, self.total_iters) / self.total_iters
        return base_lr * np.where(t >= self.total_iters, self.end_factor, ramp)

    def peak(self, base_lr: float) -> float:
        return base_lr * max(self.start_factor, self.end_factor)
