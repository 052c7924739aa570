"""observe: apply one metric report to a policy's state, and say what changed."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from .compose import base_lr_at, lr_at, restart_steps
from .config import Policy
from .early_stopping import step_early_stopping
from .events import EARLY_STOP, RESTART, Event
from .plateau import step_plateau
from .state import PolicyState


def observe(policy: Policy, state: PolicyState, step: int,
            metrics: Mapping[str, float]) -> tuple[PolicyState, tuple[Event, ...]]:
    """One report at `step`: the new state (last_report_step = step) and its events.

    The caller guarantees finite values, step >= state.last_report_step, and no repeated
    (step, metric). The plateau step is torch's ReduceLROnPlateau.step(value) against the
    schedule's LR at `step`; its change applies from `step` on. Events: every warm restart in
    (last_report_step, step], then a plateau change, then the stop decision.
    """
    plateau, change = state.plateau, None
    if policy.plateau is not None and policy.plateau.metric in metrics:
        base = float(base_lr_at(policy, np.array([step], dtype=np.int64))[0])
        plateau, change = step_plateau(policy.plateau, plateau, step, base, float(metrics[policy.plateau.metric]))
    stopping = state.early_stopping
    if policy.early_stopping is not None and policy.early_stopping.metric in metrics:
        stopping = step_early_stopping(policy.early_stopping, stopping, step,
                                       float(metrics[policy.early_stopping.metric]))
    new_state = replace(state, plateau=plateau, early_stopping=stopping, last_report_step=step)
    happened = [(RESTART, s) for s in restart_steps(policy, state.last_report_step, step)]
    if change is not None:
        happened.append((change, step))
    if stopping.should_stop and not state.early_stopping.should_stop:
        happened.append((EARLY_STOP, step))
    lrs = lr_at(policy, new_state, np.array([s for _, s in happened], dtype=np.int64))
    return new_state, tuple(Event(kind, s, float(lr)) for (kind, s), lr in zip(happened, lrs))
