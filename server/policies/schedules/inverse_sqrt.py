"""Inverse square root decay: transformers get_inverse_sqrt_schedule after the warmup."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from lrctl.server.policies.schedules import SCHEDULES, PolicyContext
from lrctl.server.validation import Checks, is_int

DEFAULT_TIMESCALE = 10_000
"""transformers' timescale without a warmup."""


@SCHEDULES.register("inverse_sqrt")
@dataclass(frozen=True, slots=True)
class InverseSqrt:
    """base_lr / sqrt((t + timescale) / timescale), t counted from the end of the warmup.

    transformers' timescale defaults to num_warmup_steps, or 10,000 without a warmup; here
    the Policy fills it in from its warmup's steps (with_policy_defaults), wherever the
    schedule nests. Unfilled (outside a Policy), it is 10,000.
    """

    timescale: int | None = None

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(self.timescale is None or (is_int(self.timescale) and self.timescale >= 1), "timescale",
                       self.timescale, "must be an integer >= 1")
        checks.raise_if_any()

    def with_policy_defaults(self, context: PolicyContext) -> "InverseSqrt":
        if self.timescale is not None:
            return self
        return dataclasses.replace(self, timescale=context.warmup_steps or DEFAULT_TIMESCALE)

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        timescale = DEFAULT_TIMESCALE if self.timescale is None else self.timescale
        return base_lr * (1.0 / np.sqrt((t.astype(np.float64) + timescale) / timescale))

    def peak(self, base_lr: float) -> float:
        return base_lr
