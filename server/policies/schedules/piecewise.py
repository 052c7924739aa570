"""Piecewise: the base LR times a factor per interval, held or interpolated (optax's piecewise schedules)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.validation import Checks, is_int, is_real

INTERPOLATIONS = ("constant", "linear")


@SCHEDULES.register("piecewise")
@dataclass(frozen=True, slots=True)
class Piecewise:
    """base_lr * factors[i] between boundaries (optax's piecewise schedules).

    factors[0] applies before boundaries[0] and factors[i] from boundaries[i-1] on. With
    "linear" interpolation the factor runs linearly between the knots (0, factors[0]),
    (boundaries[0], factors[1]), ... and holds the last one.
    """

    boundaries: tuple[int, ...]
    factors: tuple[float, ...]
    interpolation: str = "constant"

    def __post_init__(self) -> None:
        checks = Checks()
        b = self.boundaries
        checks.require(all(is_int(x) and x >= 1 for x in b) and all(x < y for x, y in zip(b, b[1:])),
                       "boundaries", b, "must be strictly increasing integers >= 1")
        checks.require(len(self.factors) == len(b) + 1 and all(is_real(f) and f >= 0 for f in self.factors),
                       "factors", self.factors, "must be len(boundaries) + 1 finite values >= 0")
        checks.one_of("interpolation", self.interpolation, INTERPOLATIONS)
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        factors = np.asarray(self.factors, dtype=np.float64)
        if self.interpolation == "linear":
            return base_lr * np.interp(t, np.asarray((0, *self.boundaries), dtype=np.float64), factors)
        return base_lr * factors[np.searchsorted(np.asarray(self.boundaries, dtype=np.int64), t, side="right")]

    def peak(self, base_lr: float) -> float:
        return base_lr * max(self.factors)
