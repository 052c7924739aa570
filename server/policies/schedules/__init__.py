"""Every schedule, one module each, registered under its member name in the `kind` oneof of
protos/lrctl/v1/policy.proto's Schedule message.

A schedule is a frozen dataclass of its fields (the proto message's names, validated at
construction) with `lr(base_lr, t)`: the LR after `t` calls of the equivalent torch
scheduler's step() (t = 0 is the initial LR), for an int64 array `t >= 0`. Torch steps most
of them recursively (multiplying the previous LR); the closed forms here agree with it to
rounding and cost the same for one step or a lease of thousands. Adding a schedule is its
module here and its proto message.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from lrctl.server.oneof_registry import OneofRegistry, import_modules


class Schedule(Protocol):
    """What every registered schedule class provides besides its config fields."""

    def lr(self, base_lr: float, t: np.ndarray) -> np.ndarray:
        """The LR at schedule times `t` (int64, >= 0), float64, for a policy whose LR is `base_lr`."""
        ...

    def peak(self, base_lr: float) -> float:
        """The largest LR at any time in [0, 2^63 - 1] (float64; inf where it overflows), so a
        policy whose LR would reach inf is refused when it is made, not served."""
        ...


@dataclass(frozen=True, slots=True)
class PolicyContext:
    """What a schedule's defaults may depend on besides its own fields."""

    warmup_steps: int


def with_policy_defaults(schedule: Any, context: PolicyContext) -> Any:
    """`schedule` with the defaults that depend on its policy filled in (inverse_sqrt's
    timescale is the warmup's steps): its `with_policy_defaults(context)` where it has one,
    else itself. Policy applies it once, at construction; nested schedules pass it on."""
    hook = getattr(schedule, "with_policy_defaults", None)
    return schedule if hook is None else hook(context)


SCHEDULES = OneofRegistry("Schedule.kind")
"""Schedule classes by oneof member name ("cosine_restarts": CosineRestarts)."""

import_modules(__name__, __path__)
