"""torch OneCycleLR (the LR part; momentum cycling belongs to the optimizer)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.validation import Checks, is_int, is_real

ANNEAL_STRATEGIES = ("cos", "linear")


@SCHEDULES.register("one_cycle")
@dataclass(frozen=True, slots=True)
class OneCycle:
    """Rise from max_lr / div_factor to max_lr over pct_start of total_steps, then anneal to
    max_lr / (div_factor * final_div_factor).

    Phases and formulas are torch's, value for value, for steps 0 .. total_steps - 1. From
    total_steps - 1 on the LR holds the final value: torch raises past total_steps, and at
    total_steps itself it extrapolates the last phase beyond its end (with "linear" that
    is a negative LR). Where torch divides by zero (a phase of zero length, e.g.
    total_steps=10, pct_start=0.1), the phase is taken as already complete at its end step.
    max_lr defaults to the policy's lr.
    """

    total_steps: int
    max_lr: float | None = None
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_int(self.total_steps) and self.total_steps >= 1, "total_steps", self.total_steps,
                       "must be an integer >= 1")
        checks.require(self.max_lr is None or (is_real(self.max_lr) and self.max_lr > 0), "max_lr",
                       self.max_lr, "must be > 0")
        checks.require(is_real(self.pct_start) and 0 <= self.pct_start <= 1, "pct_start", self.pct_start,
                       "must be in [0, 1]")
        checks.one_of("anneal_strategy", self.anneal_strategy, ANNEAL_STRATEGIES)
        checks.require(is_real(self.div_factor) and self.div_factor > 0, "div_factor", self.div_factor,
                       "must be > 0")
        checks.require(is_real(self.final_div_factor) and self.final_div_factor > 0, "final_div_factor",
                       self.final_div_factor, "must be > 0")
        checks.require(isinstance(self.three_phase, bool), "three_phase", self.three_phase, "must be a bool")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        peak = base_lr if self.max_lr is None else self.max_lr
        initial = peak / self.div_factor
        final = initial / self.final_div_factor
        rise_end = float(self.pct_start * self.total_steps) - 1
        last = self.total_steps - 1
        if self.three_phase:
            phases = ((rise_end, initial, peak), (float(2 * self.pct_start * self.total_steps) - 2, peak, initial),
                      (last, initial, final))
        else:
            phases = ((rise_end, initial, peak), (last, peak, final))
        step = np.minimum(t, last).astype(np.float64)
        out = np.empty(step.shape)
        todo = np.ones(step.shape, dtype=bool)
        start_step = 0.0
        for i, (end_step, start_lr, end_lr) in enumerate(phases):
            here = todo & ((step <= end_step) | (i == len(phases) - 1))
            span = end_step - start_step
            pct = (step[here] - start_step) / span if span else 1.0
            out[here] = self._anneal(start_lr, end_lr, pct)
            todo &= ~here
            start_step = end_step
        return out

    def peak(self, base_lr: float) -> float:
        peak = base_lr if self.max_lr is None else self.max_lr
        return max(peak, peak / self.div_factor, peak / self.div_factor / self.final_div_factor)

    def _anneal(self, start: float, end: float, pct: np.ndarray | float) -> np.ndarray | float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (np.cos(np.pi * pct) + 1)
        return (end - start) * pct + start
