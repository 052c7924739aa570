"""preview: a dry run of a policy over N steps under given metrics, before a job starts."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from lrctl.server import deadlines

from .compose import base_lr_at, lr_at, restarts_between
from .config import Policy
from .events import Event
from .observe import advance, restarted
from .state import initial_state


@dataclass(frozen=True, slots=True, eq=False)
class Preview:
    """LRs of steps 0 .. steps-1, the events in step order, and the stop step (-1: never)."""

    lrs: np.ndarray
    events: tuple[Event, ...]
    stop_step: int


def preview(policy: Policy, steps: int, metrics: Mapping[int, Mapping[str, float]]) -> Preview:
    """Replay the reports in `metrics` (keyed by step; steps outside [0, steps) are ignored)
    through the same `advance` a live job's reports take, then the restarts after the last
    report as one more event.

    Vectorised where a live job cannot be: every report's schedule LR is computed in one
    pass before the replay, and since reports never change the LR of earlier steps (and
    there is one report per step here) the final state gives every LR, the events' included,
    in one pass after it. The call's deadline is checked between reports.
    """
    reported = np.array(sorted(s for s in metrics if 0 <= s < steps), dtype=np.int64)
    bases = base_lr_at(policy, reported).tolist() if policy.plateau is not None else [None] * reported.size
    state, happened = initial_state(policy), []
    for step, base in zip(reported.tolist(), bases):
        deadlines.check()
        state, events = advance(policy, state, step, metrics[step], base)
        happened.extend(events)
    trailing = restarts_between(policy, state.last_report_step, steps - 1)
    if trailing is not None:
        happened.append(restarted(trailing))
    lrs = lr_at(policy, state, np.arange(steps, dtype=np.int64))
    stopped = state.early_stopping.stopped_step
    return Preview(lrs=lrs, events=tuple(h.with_lr(float(lrs[h.step])) for h in happened),
                   stop_step=-1 if stopped is None else stopped)

