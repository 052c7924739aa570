"""Exponential decay: torch ExponentialLR (gamma per step) or a continuous rate k."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.policies.schedules.growth import geometric_peak
from lrctl.server.validation import MAX_STEP, Checks, is_real


@SCHEDULES.register("exponential")
@dataclass(frozen=True, slots=True)
class Exponential:
    """Exactly one of gamma (torch ExponentialLR: base_lr * gamma ** t) or k (base_lr * e^(-k t))."""

    gamma: float | None = None
    k: float | None = None

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require((self.gamma is None) != (self.k is None), "gamma", self.gamma,
                       "set exactly one of gamma and k")
        checks.require(self.gamma is None or (is_real(self.gamma) and self.gamma > 0), "gamma", self.gamma,
                       "must be > 0")
        checks.require(self.k is None or is_real(self.k), "k", self.k, "must be finite")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        if self.gamma is not None:
            return base_lr * np.power(self.gamma, t.astype(np.float64))
        return base_lr * np.exp(-self.k * t.astype(np.float64))

    def peak(self, base_lr: float) -> float:
        return geometric_peak(base_lr, math.log(self.gamma) if self.gamma is not None else -self.k, MAX_STEP)
