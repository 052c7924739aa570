"""Policy: the whole LR configuration of one job, validated at construction."""
from __future__ import annotations

import math
from dataclasses import dataclass

from lrctl.server.validation import Checks, is_int, is_real

from .early_stopping import EarlyStopping
from .plateau import Plateau
from .schedules import SCHEDULES, PolicyContext, Schedule, with_policy_defaults
from .schedules.constant import Constant
from .warmup import Warmup

NONFINITE_METRIC_ACTIONS = ("reject", "skip")


@dataclass(frozen=True, slots=True)
class Policy:
    """warmup -> schedule x plateau scale -> clamp(min_lr, max_lr) -> override (see compose.lr_at).

    Defaults of the schedule that depend on the rest of the policy (inverse_sqrt's
    timescale) are filled in here, so `schedule` is the one the LRs come from.
    lr must be > 0: proto3 reads an absent `lr` as 0, and a job that trains at LR 0 by
    accident is worse than a refused policy. When steps_per_epoch > 0 the schedule's
    lengths count epochs of that many steps; warmup steps always count steps.
    """

    lr: float
    warmup: Warmup | None = None
    schedule: Schedule = Constant()
    plateau: Plateau | None = None
    early_stopping: EarlyStopping | None = None
    min_lr: float | None = None
    max_lr: float | None = None
    steps_per_epoch: int = 0
    on_nonfinite_metric: str = "reject"

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_real(self.lr) and self.lr > 0, "lr", self.lr, "must be > 0")
        checks.require(self.warmup is None or isinstance(self.warmup, Warmup), "warmup", self.warmup,
                       "must be a Warmup or None")
        checks.require(isinstance(self.schedule, SCHEDULES.types()), "schedule", self.schedule, "must be a schedule")
        checks.require(self.plateau is None or isinstance(self.plateau, Plateau), "plateau", self.plateau,
                       "must be a Plateau or None")
        checks.require(self.early_stopping is None or isinstance(self.early_stopping, EarlyStopping),
                       "early_stopping", self.early_stopping, "must be an EarlyStopping or None")
        checks.require(self.min_lr is None or (is_real(self.min_lr) and self.min_lr >= 0), "min_lr", self.min_lr,
                       "must be >= 0")
        checks.require(self.max_lr is None or (is_real(self.max_lr) and self.max_lr > 0), "max_lr", self.max_lr,
                       "must be > 0")
        checks.require(not (is_real(self.min_lr) and is_real(self.max_lr) and self.min_lr > self.max_lr),
                       "max_lr", self.max_lr, "must be >= min_lr")
        checks.require(is_int(self.steps_per_epoch) and self.steps_per_epoch >= 0, "steps_per_epoch",
                       self.steps_per_epoch, "must be an integer >= 0")
        checks.one_of("on_nonfinite_metric", self.on_nonfinite_metric, NONFINITE_METRIC_ACTIONS)
        checks.raise_if_any()
        object.__setattr__(self, "schedule", with_policy_defaults(self.schedule, PolicyContext(self.warmup_steps)))
        checks.require(math.isfinite(self.schedule.peak(self.lr)) or self.max_lr is not None, "schedule",
                       self.schedule, "its LR grows past float64's largest value (inf) before step 2^63 - 1: "
                       "use a factor <= 1, or set max_lr to cap it")
        checks.raise_if_any()

    @property
    def peak_lr(self) -> float:
        """The largest LR of warmup and schedule at any step, before plateau, clamp and override
        (inf only when max_lr caps it)."""
        peak = self.schedule.peak(self.lr)
        return max(self.lr, peak) if self.warmup is not None else peak

    @property
    def warmup_steps(self) -> int:
        return self.warmup.steps if self.warmup is not None else 0
