"""Cosine annealing with warm restarts (SGDR): torch CosineAnnealingWarmRestarts and more.

Cycle i lasts round(t_0 * t_mult ** i) steps and peaks at base_lr * peak_decay ** i.
Cycle boundaries are found with integer arithmetic: torch's closed form, `step(epoch)`,
takes a float logarithm and lands one cycle short at some exact restart points (e.g.
t_0=1, t_mult=3, epoch 121), returning eta_min where the restart's peak belongs. For an
integer t_mult the values equal torch's step-by-step `step()` exactly.

Every LR and every count of restarts costs O(log cycles): with t_mult 1 they are closed
forms, otherwise a binary search over the table of every cycle that starts before 2^63,
built once per configuration. That table is bounded: a t_mult so close to 1 that over
MAX_CYCLES cycles start before 2^63 is refused (t_mult 1 + 1e-9 would need about 10^10).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.policies.schedules.growth import geometric_peak
from lrctl.server.policies.schedules.restart_span import RestartSpan
from lrctl.server.validation import MAX_STEP, Checks, is_int, is_real

MAX_CYCLES = 10_000
"""Cycles that may start before MAX_STEP: t_mult 2 makes at most 63, t_mult 1.01 about 4,000."""


@SCHEDULES.register("cosine_restarts")
@dataclass(frozen=True, slots=True)
class CosineRestarts:
    """SGDR: t_0 steps in the first cycle, each next cycle t_mult times longer (any real >= 1)."""

    t_0: int
    t_mult: float = 1.0
    eta_min: float = 0.0
    peak_decay: float = 1.0

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_int(self.t_0) and self.t_0 >= 1, "t_0", self.t_0, "must be an integer >= 1")
        checks.require(is_real(self.t_mult) and self.t_mult >= 1, "t_mult", self.t_mult, "must be >= 1")
        checks.require(is_real(self.eta_min) and self.eta_min >= 0, "eta_min", self.eta_min, "must be >= 0")
        checks.require(is_real(self.peak_decay) and self.peak_decay > 0, "peak_decay", self.peak_decay,
                       "must be > 0")
        checks.raise_if_any()
        if self.t_mult != 1 and len(_cycles(self)[0]) > MAX_CYCLES:
            checks.require(False, "t_mult", self.t_mult,
                           f"with t_0 {self.t_0} starts over {MAX_CYCLES:,} cycles before step 2^63; use a larger "
                           "t_mult, a larger t_0, or t_mult 1 (equal cycles)")
            checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        cycle, t_cur, t_i = self._locate(t)
        peak = base_lr * np.power(self.peak_decay, cycle.astype(np.float64))
        return self.eta_min + (peak - self.eta_min) * (1 + np.cos(np.pi * t_cur / t_i)) / 2

    def peak(self, base_lr: float) -> float:
        last_cycle = MAX_STEP // self.t_0 if self.t_mult == 1 else len(_cycles(self)[0]) - 1
        return max(self.eta_min, geometric_peak(base_lr, math.log(self.peak_decay), last_cycle))

    def restarts(self, after: int, up_to: int) -> RestartSpan | None:
        """The cycles that start at times in (after, up_to] (time 0 is no restart)."""
        first = max(after + 1, 1)
        if up_to < first:
            return None
        if self.t_mult == 1:
            low, high = -(-first // self.t_0), up_to // self.t_0
            return RestartSpan(high - low + 1, low * self.t_0, high * self.t_0) if high >= low else None
        starts, _ = _cycles(self)
        low, high = int(np.searchsorted(starts, first, "left")), int(np.searchsorted(starts, up_to, "right"))
        return RestartSpan(high - low, int(starts[low]), int(starts[high - 1])) if high > low else None

    def _locate(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cycle index, steps into the cycle, cycle length) for each schedule time."""
        if self.t_mult == 1 or t.size == 0:
            return t // self.t_0, t % self.t_0, np.full(t.shape, self.t_0, dtype=np.int64)
        starts, lengths = _cycles(self)
        cycle = np.searchsorted(starts, t, side="right") - 1
        return cycle, t - starts[cycle], lengths[cycle]


@lru_cache(maxsize=64)
def _cycles(cfg: CosineRestarts) -> tuple[np.ndarray, np.ndarray]:
    """Start (int64) and length (float64) of every cycle that starts at or before MAX_STEP,
    stopping early past MAX_CYCLES (construction refuses such a configuration). Lengths are
    float64 because the last cycle may end beyond int64."""
    integer_mult = float(cfg.t_mult).is_integer()
    starts, lengths = [0], []
    while len(starts) <= MAX_CYCLES:
        cycle = len(lengths)
        lengths.append(cfg.t_0 * int(cfg.t_mult) ** cycle if integer_mult else round(cfg.t_0 * cfg.t_mult ** cycle))
        if starts[-1] + lengths[-1] > MAX_STEP:
            break
        starts.append(starts[-1] + lengths[-1])
    return np.asarray(starts, dtype=np.int64), np.asarray(lengths[:len(starts)], dtype=np.float64)
