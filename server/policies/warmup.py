"""Warmup: the LR ramp over the first `steps` steps, handing over to the schedule at `lr`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.validation import Checks, is_int, is_real

WARMUP_MODES = ("linear", "exponential")


@dataclass(frozen=True, slots=True)
class Warmup:
    """Ramp from start_factor * lr at step 0 towards lr, reached at step `steps`.

    "linear" is torch LinearLR(start_factor, end_factor=1, total_iters=steps) in front of
    the schedule in SequentialLR(milestones=[steps]); "exponential" is geometric, so each
    step multiplies the LR by the same factor (start_factor ** (-1 / steps)).
    """

    steps: int
    start_factor: float = 1.0 / 3.0
    mode: str = "linear"

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_int(self.steps) and self.steps >= 1, "steps", self.steps,
                       "must be an integer >= 1; omit warmup for none")
        checks.require(is_real(self.start_factor) and 0 < self.start_factor <= 1, "start_factor",
                       self.start_factor, "must be in (0, 1]")
        checks.one_of("mode", self.mode, WARMUP_MODES)
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        """LR at steps `t` (0 <= t <= steps), for a warmup that ends at `base_lr`."""
        frac = t / self.steps
        if self.mode == "linear":
            return base_lr * (self.start_factor + (1.0 - self.start_factor) * frac)
        return base_lr * self.start_factor ** (1.0 - frac)
