"""Step decay: torch StepLR, the LR multiplied by gamma every step_size steps."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.policies.schedules.growth import geometric_peak
from lrctl.server.validation import MAX_STEP, Checks, is_int, is_real


@SCHEDULES.register("step")
@dataclass(frozen=True, slots=True)
class StepDecay:
    """torch StepLR: base_lr * gamma ** (t // step_size)."""

    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_int(self.step_size) and self.step_size >= 1, "step_size", self.step_size,
                       "must be an integer >= 1")
        checks.require(is_real(self.gamma) and self.gamma > 0, "gamma", self.gamma, "must be > 0")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        return base_lr * np.power(self.gamma, (t // self.step_size).astype(np.float64))

    def peak(self, base_lr: float) -> float:
        return geometric_peak(base_lr, math.log(self.gamma), MAX_STEP // self.step_size)
