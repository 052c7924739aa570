"""Multi-step decay: torch MultiStepLR, the LR multiplied by gamma at each milestone."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.policies.schedules.growth import geometric_peak
from lrctl.server.validation import Checks, is_int, is_real


@SCHEDULES.register("multistep")
@dataclass(frozen=True, slots=True)
class MultiStep:
    """torch MultiStepLR: base_lr * gamma ** (number of milestones <= t).

    Milestones may come in any order and repeat (a repeated milestone decays twice), as in
    torch; they are kept sorted.
    """

    milestones: tuple[int, ...]
    gamma: float = 0.1

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(all(is_int(m) and m >= 0 for m in self.milestones), "milestones",
                       self.milestones, "must be integers >= 0")
        checks.require(is_real(self.gamma) and self.gamma > 0, "gamma", self.gamma, "must be > 0")
        checks.raise_if_any()
        object.__setattr__(self, "milestones", tuple(sorted(int(m) for m in self.milestones)))

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        passed = np.searchsorted(np.asarray(self.milestones, dtype=np.int64), t, side="right")
        return base_lr * np.power(self.gamma, passed.astype(np.float64))

    def peak(self, base_lr: float) -> float:
        return geometric_peak(base_lr, math.log(self.gamma), len(self.milestones))
