"""The one place the LR of a step is composed, in DESIGN §3's order:

    warmup(t) -> schedule(t - W) x plateau scale -> clamp(min_lr, max_lr) -> override

Step convention: lr_at(t) is the LR torch's equivalent scheduler gives after t calls of
scheduler.step() (t = 0 is the initial LR). Everything is vectorized over steps, so a
lease of a thousand steps costs about what one step does.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from lrctl.server.errors import FieldViolation, InvalidArgument

from .config import Policy
from .schedules.restart_span import RestartSpan, restarts_of
from .state import Override, PolicyState


def base_lr_at(policy: Policy, steps: np.ndarray) -> np.ndarray:
    """warmup(t) for t < W, else schedule(t - W): the LR before plateau, clamp and override.

    With steps_per_epoch > 0 the schedule's time is the epoch floor((t - W) / steps_per_epoch),
    as a torch scheduler stepped once per epoch sees it.
    """
    t = np.asarray(steps, dtype=np.int64)
    since = np.maximum(t - policy.warmup_steps, 0)
    if policy.steps_per_epoch:
        since //= policy.steps_per_epoch
    if policy.max_lr is None:
        lr = policy.schedule.lr(policy.lr, since)
    else:  # only a schedule capped by max_lr may overflow (Policy refuses the others)
        with np.errstate(over="ignore", invalid="ignore"):
            lr = policy.schedule.lr(policy.lr, since)
    if policy.warmup is None:
        return lr
    return np.where(t < policy.warmup.steps, policy.warmup.lr(policy.lr, np.minimum(t, policy.warmup.steps)), lr)


def lr_at(policy: Policy, state: PolicyState, steps: np.ndarray) -> np.ndarray:
    """The LR of each step (int64 array in, float64 array out)."""
    t = np.asarray(steps, dtype=np.int64)
    base = base_lr_at(policy, t)
    if policy.max_lr is not None:  # inf x a plateau scale of 0 would be NaN
        base = np.fmin(base, sys.float_info.max)
    lr = base * state.plateau.scale_at(t)
    if policy.min_lr is not None or policy.max_lr is not None:
        lr = np.clip(lr, policy.min_lr, policy.max_lr)
    override = state.override
    if override is None:
        return lr
    active = t < override.until_step if override.until_step else np.ones(t.shape, dtype=bool)
    return np.where(active, override.lr if override.lr is not None else lr * override.scale, lr)


def lr_ceiling(policy: Policy, highest_scale: float, override: Override | None) -> float:
    """An upper bound of lr_at over every step, for plateau scales up to `highest_scale`: the
    policy's peak times that scale, clamped, then the override."""
    ceiling = policy.peak_lr * max(1.0, highest_scale)
    if policy.max_lr is not None:
        ceiling = min(ceiling, policy.max_lr)
    if policy.min_lr is not None:
        ceiling = max(ceiling, policy.min_lr)
    if override is None:
        return ceiling
    pinned = override.lr if override.lr is not None else ceiling * override.scale
    return max(ceiling, pinned) if override.until_step else pinned


def check_lrs_finite(policy: Policy, state: PolicyState) -> None:
    """INVALID_ARGUMENT unless every step's LR stays finite under this policy and state: the
    check an operator change (a policy update, an override) passes before it is stored."""
    highest = state.plateau.highest_scale
    if not math.isfinite(lr_ceiling(policy, highest, None)):
        raise InvalidArgument(FieldViolation("policy", f"with this job's plateau scales (up to {highest:g}) its LR "
                                             "would exceed float64 (inf)"))
    if not math.isfinite(lr_ceiling(policy, highest, state.override)):
        raise InvalidArgument(FieldViolation("override.scale", f"{state.override.scale:g} x this job's highest LR "
                                             f"{lr_ceiling(policy, highest, None):g} exceeds float64 (inf)"))


def lr_at_step(policy: Policy, state: PolicyState, step: int) -> float:
    """lr_at for a single step."""
    return float(lr_at(policy, state, np.array([step], dtype=np.int64))[0])


def restarts_between(policy: Policy, after_step: int, up_to_step: int) -> RestartSpan | None:
    """The cosine warm restarts that begin at steps in (after_step, up_to_step], wherever they
    nest in the schedule (None for schedules without any), counted without listing them;
    with steps_per_epoch, a restart is at the first step of its epoch."""
    warmup, per_epoch = policy.warmup_steps, policy.steps_per_epoch or 1
    span = restarts_of(policy.schedule, (after_step - warmup) // per_epoch, (up_to_step - warmup) // per_epoch)
    return None if span is None else span.shifted(warmup, per_epoch)
