"""preview: a dry run of a policy over N steps under given metrics, before a job starts."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from lrctl.server import deadlines

from .compose import lr_at, restart_steps
from .config import Policy
from .events import RESTART, Event
from .observe import observe
from .state import initial_state


@dataclass(frozen=True, slots=True, eq=False)
class Preview:
    """LRs of steps 0 .. steps-1, the events in step order, and the stop step (-1: never)."""

    lrs: np.ndarray
    events: tuple[Event, ...]
    stop_step: int


def preview(policy: Policy, steps: int, metrics: Mapping[int, Mapping[str, float]]) -> Preview:
    """Replay the reports in `metrics` (keyed by step; steps outside [0, steps) are ignored)
    through observe, exactly as a live job would.

    Reports never change the LR of earlier steps, so the final state gives every LR. The
    call's deadline is checked between reports: a preview its caller gave up on stops.
    """
    state, events = initial_state(policy), []
    for step in sorted(s for s in metrics if 0 <= s < steps):
        deadlines.check()
        state, happened = observe(policy, state, step, metrics[step])
        events.extend(happened)
    lrs = lr_at(policy, state, np.arange(steps, dtype=np.int64))
    events.extend(Event(RESTART, s, float(lrs[s])) for s in restart_steps(policy, state.last_report_step, steps - 1))
    stopped = state.early_stopping.stopped_step
    return Preview(lrs=lrs, events=tuple(events), stop_step=-1 if stopped is None else stopped)
