"""Inverse time decay: Keras InverseTimeDecay."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.validation import Checks, is_int, is_real


@SCHEDULES.register("inverse_time")
@dataclass(frozen=True, slots=True)
class InverseTime:
    """Keras InverseTimeDecay: base_lr / (1 + decay_rate * t / decay_steps), with t // decay_steps
    in place of t / decay_steps when `staircase`. A negative decay_rate is refused: the LR
    would pass through inf to negative values."""

    decay_steps: int
    decay_rate: float = 0.0
    staircase: bool = False

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_int(self.decay_steps) and self.decay_steps >= 1, "decay_steps", self.decay_steps,
                       "must be an integer >= 1")
        checks.nonnegative("decay_rate", self.decay_rate)
        checks.require(isinstance(self.staircase, bool), "staircase", self.staircase, "must be a bool")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        p = (t // self.decay_steps).astype(np.float64) if self.staircase else t / self.decay_steps
        return base_lr / (1 + self.decay_rate * p)

    def peak(self, base_lr: float) -> float:
        return base_lr
