"""Plateau: torch ReduceLROnPlateau as a pure step function, plus sign-safe thresholds and
raising the LR again after sustained improvement.

The plateau never sets an LR directly: it keeps a history of (from_step, scale) that
multiplies the schedule from `from_step` on. A change made by a report at step t therefore
applies from t and never alters the LR of an earlier step, which is what keeps leases and
per-step idempotency valid. Torch's "current LR" in its arithmetic is the schedule's LR at
the report's step times the scale in force (before clamp and override).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from lrctl.server.validation import Checks, is_int, is_real

from .events import INCREASED, REDUCED
from .scale_history import ScaleHistory

MODES = ("min", "max")
THRESHOLD_MODES = ("rel", "abs")


@dataclass(frozen=True, slots=True)
class Plateau:
    """Defaults are torch's; increase_factor > 1 turns on raising the LR (off by default)."""

    metric: str
    mode: str = "min"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    min_lr: float = 0.0
    eps: float = 1e-8
    sign_safe_threshold: bool = True
    increase_factor: float = 0.0
    increase_patience: int = 0
    increase_max_lr: float = 0.0

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(isinstance(self.metric, str) and self.metric != "", "metric", self.metric,
                       "must name a reported metric")
        checks.one_of("mode", self.mode, MODES)
        checks.require(is_real(self.factor) and 0 <= self.factor < 1, "factor", self.factor, "must be in [0, 1)")
        checks.require(is_int(self.patience) and self.patience >= 0, "patience", self.patience,
                       "must be an integer >= 0")
        checks.require(is_real(self.threshold) and self.threshold >= 0, "threshold", self.threshold, "must be >= 0")
        checks.one_of("threshold_mode", self.threshold_mode, THRESHOLD_MODES)
        checks.require(is_int(self.cooldown) and self.cooldown >= 0, "cooldown", self.cooldown,
                       "must be an integer >= 0")
        checks.require(is_real(self.min_lr) and self.min_lr >= 0, "min_lr", self.min_lr, "must be >= 0")
        checks.require(is_real(self.eps) and self.eps >= 0, "eps", self.eps, "must be >= 0")
        checks.require(isinstance(self.sign_safe_threshold, bool), "sign_safe_threshold",
                       self.sign_safe_threshold, "must be a bool")
        checks.require(is_real(self.increase_factor) and (self.increase_factor == 0 or self.increase_factor > 1),
                       "increase_factor", self.increase_factor, "must be 0 (off) or > 1")
        checks.require(is_int(self.increase_patience) and self.increase_patience >= 0, "increase_patience",
                       self.increase_patience, "must be an integer >= 0")
        checks.require(is_real(self.increase_max_lr) and self.increase_max_lr >= 0, "increase_max_lr",
                       self.increase_max_lr, "must be >= 0")
        checks.require(not (is_real(self.increase_factor) and self.increase_factor > 1 and self.increase_max_lr == 0),
                       "increase_max_lr", self.increase_max_lr, "must be > 0 when increase_factor > 1")
        checks.raise_if_any()

    @property
    def increases_enabled(self) -> bool:
        return self.increase_factor > 1

    def is_better(self, value: float, best: float | None) -> bool:
        """torch's `_is_better`; None is torch's initial `mode_worse` (±inf).

        A relative threshold uses torch's exact expression while best >= 0 (so positive
        metrics match torch bit for bit) and |best| below zero when sign_safe_threshold:
        torch's `best * (1 - threshold)` moves the bar *above* a negative best, so a
        slightly worse value counts as an improvement and the LR is never reduced.
        """
        if best is None:
            return True
        if self.threshold_mode == "abs":
            return value < best - self.threshold if self.mode == "min" else value > best + self.threshold
        flip = self.sign_safe_threshold and best < 0
        if self.mode == "min":
            return value < best * (1.0 + self.threshold if flip else 1.0 - self.threshold)
        return value > best * (1.0 - self.threshold if flip else self.threshold + 1.0)


@dataclass(frozen=True, slots=True)
class PlateauState:
    """torch ReduceLROnPlateau's counters plus the scale history.

    best is None before the first report (torch's ±inf, whichever the mode). scales holds
    (from_step, scale) pairs in step order; the scale is 1.0 before the first one.
    """

    best: float | None = None
    num_bad_reports: int = 0
    num_good_reports: int = 0
    cooldown_counter: int = 0
    reductions: int = 0
    increases: int = 0
    scales: ScaleHistory = field(default_factory=ScaleHistory)

    @property
    def scale(self) -> float:
        """The scale in force for the latest step reported."""
        last = self.scales.last
        return 1.0 if last is None else last[1]

    @property
    def highest_scale(self) -> float:
        """The largest scale of any step (steps before the first entry have 1.0)."""
        return self.scales.highest

    def scale_at(self, steps: np.ndarray) -> np.ndarray:
        """The scale in force at each step: the entry with the largest from_step <= step."""
        return self.scales.at(steps)


def step_plateau(cfg: Plateau, state: PlateauState, step: int, base_lr: float,
                 value: float) -> tuple[PlateauState, str | None]:
    """One torch `ReduceLROnPlateau.step(value)` at `step`: the new state and "reduced",
    "increased" or None.

    `base_lr` is the schedule's LR at `step`. Counters reset when a change is due even if
    the LR cannot move (at min_lr, or base_lr == 0), as in torch.
    """
    better = cfg.is_better(value, state.best)
    best = value if better else state.best
    bad = 0 if better else state.num_bad_reports + 1
    good = state.num_good_reports + 1 if better else 0
    cooldown = state.cooldown_counter
    if cooldown > 0:
        cooldown -= 1
        bad = good = 0
    new = replace(state, best=best, num_bad_reports=bad, num_good_reports=good, cooldown_counter=cooldown)
    old_lr = base_lr * state.scale
    if bad > cfg.patience:
        new = replace(new, num_bad_reports=0, cooldown_counter=cfg.cooldown)
        new_lr = max(old_lr * cfg.factor, cfg.min_lr)
        if base_lr > 0 and old_lr - new_lr > cfg.eps:
            return _rescale(new, step, new_lr / base_lr, reductions=new.reductions + 1), REDUCED
    elif cfg.increases_enabled and good > cfg.increase_patience:
        new = replace(new, num_good_reports=0, cooldown_counter=cfg.cooldown)
        new_lr = min(old_lr * cfg.increase_factor, cfg.increase_max_lr)
        if base_lr > 0 and new_lr - old_lr > cfg.eps:
            return _rescale(new, step, new_lr / base_lr, increases=new.increases + 1), INCREASED
    return new, None


def _rescale(state: PlateauState, step: int, scale: float, **counters: int) -> PlateauState:
    """Record `scale` from `step` on (replacing an entry made at the same step)."""
    return replace(state, scales=state.scales.with_change(step, scale), **counters)
