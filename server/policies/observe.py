"""observe: apply one metric report to a policy's state, and say what changed."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from .compose import base_lr_at, lr_at, lr_ceiling, restarts_between
from .config import Policy
from .early_stopping import step_early_stopping
from .events import EARLY_STOP, INCREASED, RESTART, Event
from .plateau import step_plateau
from .schedules.restart_span import RestartSpan
from .state import PolicyState


@dataclass(frozen=True, slots=True)
class Happened:
    """An event before its LR is known: `kind` at `step`, standing for `count` occurrences
    from `first_step` on."""

    kind: str
    step: int
    count: int = 1
    first_step: int | None = None

    def with_lr(self, lr: float) -> Event:
        return Event(self.kind, self.step, lr, self.count, self.first_step)


def observe(policy: Policy, state: PolicyState, step: int,
            metrics: Mapping[str, float]) -> tuple[PolicyState, tuple[Event, ...]]:
    """One report at `step`: the new state (last_report_step = step) and its events, each with
    the LR of its step after the report."""
    new_state, happened = advance(policy, state, step, metrics)
    lrs = lr_at(policy, new_state, np.array([h.step for h in happened], dtype=np.int64))
    return new_state, tuple(h.with_lr(float(lr)) for h, lr in zip(happened, lrs))


def advance(policy: Policy, state: PolicyState, step: int, metrics: Mapping[str, float],
            base_lr: float | None = None) -> tuple[PolicyState, tuple[Happened, ...]]:
    """`observe` without the events' LRs (preview finds all of them at once at the end).

    The caller guarantees finite values, step >= state.last_report_step, and no repeated
    (step, metric). The plateau step is torch's ReduceLROnPlateau.step(value) against the
    schedule's LR at `step` (`base_lr`, when the caller has it); its change applies from
    `step` on; an increase that would let some step's LR reach inf is not made (a plateau
    counts it as an LR that cannot move). At most three events however far the report jumps: the warm restarts in
    (last_report_step, step] as one, then a plateau change, then the stop decision.
    """
    plateau, change = state.plateau, None
    if policy.plateau is not None and policy.plateau.metric in metrics:
        if base_lr is None:
            base_lr = float(base_lr_at(policy, np.array([step], dtype=np.int64))[0])
        plateau, change = step_plateau(policy.plateau, plateau, step, base_lr, float(metrics[policy.plateau.metric]))
        if change == INCREASED and not math.isfinite(lr_ceiling(policy, plateau.scale, state.override)):
            plateau, change = replace(plateau, scales=state.plateau.scales, increases=state.plateau.increases), None
    stopping = state.early_stopping
    if policy.early_stopping is not None and policy.early_stopping.metric in metrics:
        stopping = step_early_stopping(policy.early_stopping, stopping, step,
                                       float(metrics[policy.early_stopping.metric]))
    happened = []
    restarts = restarts_between(policy, state.last_report_step, step)
    if restarts is not None:
        happened.append(restarted(restarts))
    if change is not None:
        happened.append(Happened(change, step))
    if stopping.should_stop and not state.early_stopping.should_stop:
        happened.append(Happened(EARLY_STOP, step))
    return replace(state, plateau=plateau, early_stopping=stopping, last_report_step=step), tuple(happened)


def restarted(span: RestartSpan) -> Happened:
    """The restart event of a RestartSpan of steps."""
    return Happened(RESTART, span.last, span.count, span.first if span.count > 1 else None)
