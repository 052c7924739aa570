"""Polynomial decay: torch PolynomialLR, with Keras PolynomialDecay's end value and cycling."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.validation import Checks, is_int, is_real


@SCHEDULES.register("polynomial")
@dataclass(frozen=True, slots=True)
class Polynomial:
    """(base_lr - end_lr) * (1 - min(t, T) / T) ** power + end_lr, T = total_iters.

    With end_lr 0 and no cycle this is torch PolynomialLR to the bit (the `+ 0.0` changes
    nothing). With `cycle`, Keras PolynomialDecay's: T is the first multiple of total_iters
    >= t (total_iters itself at t = 0), so each decay starts over from a lower point and
    lasts longer; end_lr is an LR, as Keras's end_learning_rate, and may exceed base_lr.
    """

    total_iters: int = 5
    power: float = 1.0
    end_lr: float = 0.0
    cycle: bool = False

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_int(self.total_iters) and self.total_iters >= 1, "total_iters", self.total_iters,
                       "must be an integer >= 1")
        checks.require(is_real(self.power) and self.power >= 0, "power", self.power, "must be >= 0")
        checks.nonnegative("end_lr", self.end_lr)
        checks.require(isinstance(self.cycle, bool), "cycle", self.cycle, "must be a bool")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        if self.cycle:
            periods = np.maximum(-(-t // self.total_iters), 1)
            fraction = t / (periods * float(self.total_iters))
        else:
            fraction = np.minimum(t, self.total_iters) / self.total_iters
        return (base_lr - self.end_lr) * (1.0 - fraction) ** self.power + self.end_lr

    def peak(self, base_lr: float) -> float:
        return max(base_lr, self.end_lr)
