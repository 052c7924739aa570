"""Constant: the LR stays at the base LR, or torch ConstantLR's factor for its first steps."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.validation import Checks, is_int, is_real

DEFAULT_FACTOR = 1.0 / 3.0
DEFAULT_TOTAL_ITERS = 5


@SCHEDULES.register("constant")
@dataclass(frozen=True, slots=True)
class Constant:
    """The base LR; with factor or total_iters set, torch ConstantLR: base_lr * factor for
    t < total_iters, then base_lr (the unset one takes torch's default, 1/3 or 5).

    total_iters 0 is refused: torch's step-by-step form then keeps base_lr * factor forever
    while its closed form says base_lr, and a factor for no steps at all is a plain constant.
    """

    factor: float | None = None
    total_iters: int | None = None

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(self.factor is None or (is_real(self.factor) and 0 <= self.factor <= 1), "factor",
                       self.factor, "must be in [0, 1]")
        checks.require(self.total_iters is None or (is_int(self.total_iters) and self.total_iters >= 1),
                       "total_iters", self.total_iters, "must be an integer >= 1")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        if self.factor is None and self.total_iters is None:
            return np.full(t.shape, float(base_lr))
        factor = DEFAULT_FACTOR if self.factor is None else self.factor
        total_iters = DEFAULT_TOTAL_ITERS if self.total_iters is None else self.total_iters
        return np.where(t < total_iters, base_lr * factor, float(base_lr))

    def peak(self, base_lr: float) -> float:
        return base_lr
