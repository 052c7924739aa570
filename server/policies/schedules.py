"""The closed-form schedules: LR as a function of schedule time, one small class each.

Every schedule has `lr(base_lr, t)`: the LR after `t` calls of the equivalent torch
scheduler's step() (t = 0 is the initial LR), for an int64 array `t >= 0`. Torch steps most
of these recursively (multiplying the previous LR); the closed forms here agree with it to
rounding and cost the same for one step or a lease of thousands.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.validation import Checks, is_int, is_real

INTERPOLATIONS = ("constant", "linear")


@dataclass(frozen=True, slots=True)
class Constant:
    """LR stays at the base LR."""

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        return np.full(t.shape, float(base_lr))


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


@dataclass(frozen=True, slots=True)
class Polynomial:
    """torch PolynomialLR: base_lr * (1 - min(t, total_iters) / total_iters) ** power."""

    total_iters: int = 5
    power: float = 1.0

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_int(self.total_iters) and self.total_iters >= 1, "total_iters", self.total_iters,
                       "must be an integer >= 1")
        checks.require(is_real(self.power) and self.power >= 0, "power", self.power, "must be >= 0")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        return base_lr * (1.0 - np.minimum(t, self.total_iters) / self.total_iters) ** self.power


@dataclass(frozen=True, slots=True)
class Linear:
    """torch LinearLR: the factor runs linearly from start_factor to end_factor over total_iters."""

    start_factor: float = 1.0 / 3.0
    end_factor: float = 1.0
    total_iters: int = 5

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_real(self.start_factor) and 0 < self.start_factor <= 1, "start_factor",
                       self.start_factor, "must be in (0, 1]")
        checks.require(is_real(self.end_factor) and 0 <= self.end_factor <= 1, "end_factor",
                       self.end_factor, "must be in [0, 1]")
        checks.require(is_int(self.total_iters) and self.total_iters >= 1, "total_iters", self.total_iters,
                       "must be an integer >= 1")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        span = self.end_factor - self.start_factor
        return base_lr * (self.start_factor + span * np.minimum(t, self.total_iters) / self.total_iters)


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
