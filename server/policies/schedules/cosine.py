"""Cosine annealing: torch CosineAnnealingLR in closed form, or held after t_max as Keras and optax do."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.validation import Checks, is_int, is_real


@SCHEDULES.register("cosine")
@dataclass(frozen=True, slots=True)
class Cosine:
    """torch CosineAnnealingLR in closed form; like torch, it keeps oscillating past t_max.

    With hold_after_t_max it holds eta_min from t_max on: Keras CosineDecay and optax
    cosine_decay_schedule, whose alpha is eta_min / lr.
    """

    t_max: int
    eta_min: float = 0.0
    hold_after_t_max: bool = False

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_int(self.t_max) and self.t_max >= 1, "t_max", self.t_max, "must be an integer >= 1")
        checks.require(is_real(self.eta_min) and self.eta_min >= 0, "eta_min", self.eta_min, "must be >= 0")
        checks.require(isinstance(self.hold_after_t_max, bool), "hold_after_t_max", self.hold_after_t_max,
                       "must be a bool")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        if self.hold_after_t_max:
            t = np.minimum(t, self.t_max)
        return self.eta_min + (base_lr - self.eta_min) * (1 + np.cos(np.pi * t / self.t_max)) / 2

    def peak(self, base_lr: float) -> float:
        return max(base_lr, self.eta_min)
