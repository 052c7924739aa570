"""Polynomial decay: torch PolynomialLR, to zero over total_iters."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.validation import Checks, is_int, is_real


@SCHEDULES.register("polynomial")
@dataclass(frozen=True, slots=True)
class Polynomial:
    """torch PolynomialLR: base_lr * (1 - min(t, total_iters) / total_iters) ** power."""

    total_iters: int = 5
    power: float = 1.0

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_int(self.total_iters) and self.total_iters >= 1, "total_iters", self.total_iters,
                       "must be an integer >= 1")
        checks.require(is_real(self.power) and self.power >= 0, "power", self.power, "must be >= 0")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        return base_lr * (1.0 - np.minimum(t, self.total_iters) / self.total_iters) ** self.power

    def peak(self, base_lr: float) -> float:
        return base_lr
