"""Cyclic: torch CyclicLR's learning rate (its momentum cycling belongs to the optimizer)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.validation import Checks, is_int, is_real

MODES = ("triangular", "triangular2", "exp_range")


@SCHEDULES.register("cyclic")
@dataclass(frozen=True, slots=True)
class Cyclic:
    """torch CyclicLR: from base_lr (default: the policy's lr) to max_lr over step_size_up
    steps and back over step_size_down (default step_size_up); "triangular2" halves the
    amplitude each cycle, "exp_range" scales it by gamma ** t.

    Same float operations as torch's get_lr, so the values agree to the bit. gamma above 1
    is refused: the amplitude would grow without bound, to inf or, with max_lr < base_lr,
    below zero. With gamma <= 1 the LR stays between base_lr and max_lr.
    """

    max_lr: float
    base_lr: float | None = None
    step_size_up: int = 2000
    step_size_down: int | None = None
    mode: str = "triangular"
    gamma: float = 1.0

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_real(self.max_lr) and self.max_lr > 0, "max_lr", self.max_lr, "must be > 0")
        checks.require(self.base_lr is None or (is_real(self.base_lr) and self.base_lr >= 0), "base_lr",
                       self.base_lr, "must be >= 0")
        checks.require(is_int(self.step_size_up) and self.step_size_up >= 1, "step_size_up", self.step_size_up,
                       "must be an integer >= 1")
        checks.require(self.step_size_down is None or (is_int(self.step_size_down) and self.step_size_down >= 0),
                       "step_size_down", self.step_size_down, "must be an integer >= 0")
        checks.one_of("mode", self.mode, MODES)
        checks.require(is_real(self.gamma) and 0 < self.gamma <= 1, "gamma", self.gamma, "must be in (0, 1]")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        low = base_lr if self.base_lr is None else self.base_lr
        down = self.step_size_up if self.step_size_down is None else self.step_size_down
        total = float(self.step_size_up + down)
        ratio = self.step_size_up / total
        cycle = np.floor(1 + t / total)
        x = 1.0 + t / total - cycle
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            scale = np.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
            height = (self.max_lr - low) * scale
            if self.mode == "triangular2":
                height = height * (1 / np.power(2.0, cycle - 1))
            elif self.mode == "exp_range":
                height = height * np.power(self.gamma, t.astype(np.float64))
            return low + height

    def peak(self, base_lr: float) -> float:
        return max(base_lr if self.base_lr is None else self.base_lr, self.max_lr)
