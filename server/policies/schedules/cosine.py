"""Cosine annealing: torch CosineAnnealingLR in closed form."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.validation import Checks, is_int, is_real


@SCHEDULES.register("cosine")
@dataclass(frozen=True, slots=True)
class Cosine:
    """torch CosineAnnealingLR in closed form; like torch, it keeps oscillating past t_max."""

    t_max: int
    eta_min: float = 0.0

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_int(self.t_max) and self.t_max >= 1, "t_max", self.t_max, "must be an integer >= 1")
        checks.require(is_real(self.eta_min) and self.eta_min >= 0, "eta_min", self.eta_min, "must be >= 0")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        return self.eta_min + (base_lr - self.eta_min) * (1 + np.cos(np.pi * t / self.t_max)) / 2

    def peak(self, base_lr: float) -> float:
        return max(base_lr, self.eta_min)
