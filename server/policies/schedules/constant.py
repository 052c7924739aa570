"""Constant: the LR stays at the base LR."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES


@SCHEDULES.register("constant")
@dataclass(frozen=True, slots=True)
class Constant:
    """LR stays at the base LR."""

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        return np.full(t.shape, float(base_lr))

    def peak(self, base_lr: float) -> float:
        return base_lr
