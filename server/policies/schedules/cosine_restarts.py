"""Cosine annealing with warm restarts (SGDR): torch CosineAnnealingWarmRestarts and more.

Cycle i lasts round(t_0 * t_mult ** i) steps and peaks at base_lr * peak_decay ** i.
Cycle boundaries are found with integer arithmetic: torch's closed form, `step(epoch)`,
takes a float logarithm and lands one cycle short at some exact restart points (e.g.
t_0=1, t_mult=3, epoch 121), returning eta_min where the restart's peak belongs. For an
integer t_mult the values equal torch's step-by-step `step()` exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.validation import Checks, is_int, is_real


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

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        cycle, t_cur, t_i = self._locate(t)
        peak = base_lr * np.power(self.peak_decay, cycle.astype(np.float64))
        return self.eta_min + (peak - self.eta_min) * (1 + np.cos(np.pi * t_cur / t_i)) / 2

    def restarts(self, after: int, up_to: int) -> np.ndarray:
        """Schedule times in (after, up_to] where a new cycle starts (time 0 is no restart)."""
        first = max(after + 1, 1)
        if up_to < first:
            return np.empty(0, dtype=np.int64)
        if self.t_mult == 1:
            return np.arange(-(-first // self.t_0) * self.t_0, up_to + 1, self.t_0, dtype=np.int64)
        starts, _ = _cycles(self, int(up_to).bit_length())
        return starts[(starts >= first) & (starts <= up_to)]

    def _locate(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cycle index, steps into the cycle, cycle length) for each schedule time."""
        if self.t_mult == 1 or t.size == 0:
            return t // self.t_0, t % self.t_0, np.full(t.shape, self.t_0, dtype=np.int64)
        starts, lengths = _cycles(self, int(t.max()).bit_length())
        cycle = np.searchsorted(starts, t, side="right") - 1
        return cycle, t - starts[cycle], lengths[cycle]


@lru_cache(maxsize=256)
def _cycles(cfg: CosineRestarts, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Start (int64) and length (float64) of every cycle that starts at or before 2**bits.

    Keyed by the bit length of the largest time asked for, so a growing job recomputes
    this once per doubling of its step count, not once per call. Lengths are float64
    because the last cycle may end beyond int64.
    """
    integer_mult = float(cfg.t_mult).is_integer()
    bound = min(1 << bits, np.iinfo(np.int64).max)
    starts, lengths = [0], []
    while True:
        cycle = len(lengths)
        lengths.append(cfg.t_0 * int(cfg.t_mult) ** cycle if integer_mult else round(cfg.t_0 * cfg.t_mult ** cycle))
        if starts[-1] + lengths[-1] > bound:
            return np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.float64)
        starts.append(starts[-1] + lengths[-1])
