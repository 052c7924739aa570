"""Warmup-stable-decay: transformers get_wsd_schedule's stable and decay phases."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.validation import Checks, is_int, is_real

DECAY_TYPES = ("cosine", "linear", "1-sqrt")


@SCHEDULES.register("wsd")
@dataclass(frozen=True, slots=True)
class Wsd:
    """base_lr for stable_steps, then a decay to base_lr * min_lr_ratio over decay_steps, held.

    The warmup is the policy's own: transformers' num_warmup_steps is warmup.steps. Its
    warmup rises linearly from min_lr_ratio, which lrctl's linear warmup with
    start_factor = min_lr_ratio is; from 0 (min_lr_ratio 0) it has no lrctl equivalent, as
    a warmup starts above 0. decay_steps 0 is refused: transformers drops straight to
    min_lr_ratio (0 by default), so a missing field would train at LR 0.
    """

    stable_steps: int = 0
    decay_steps: int = 0
    decay_type: str = "cosine"
    min_lr_ratio: float = 0.0

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_int(self.stable_steps) and self.stable_steps >= 0, "stable_steps", self.stable_steps,
                       "must be an integer >= 0")
        checks.require(is_int(self.decay_steps) and self.decay_steps >= 1, "decay_steps", self.decay_steps,
                       "must be an integer >= 1")
        checks.one_of("decay_type", self.decay_type, DECAY_TYPES)
        checks.require(is_real(self.min_lr_ratio) and 0 <= self.min_lr_ratio <= 1, "min_lr_ratio",
                       self.min_lr_ratio, "must be in [0, 1]")
        checks.raise_if_any()

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        progress = np.clip(t - self.stable_steps, 0, self.decay_steps) / self.decay_steps
        if self.decay_type == "linear":
            factor = 1.0 - progress
        elif self.decay_type == "cosine":
            factor = 0.5 * (1.0 + np.cos(np.pi * progress))
        else:
            factor = 1.0 - np.sqrt(progress)
        factor = factor * (1.0 - self.min_lr_ratio) + self.min_lr_ratio
        factor = np.where(t < self.stable_steps, 1.0, factor)
        return base_lr * np.where(t >= self.stable_steps + self.decay_steps, self.min_lr_ratio, factor)

    def peak(self, base_lr: float) -> float:
        return base_lr
