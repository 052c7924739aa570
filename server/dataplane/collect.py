"""One data-parallel step while its ranks' gradients arrive.

A StepCollector holds, for step t of one job, each rank's contribution (its decoded gradient)
until all `workers` ranks have sent theirs; then the step is reduced in rank order and
applied once, and every rank's call is answered from the same StepOutcome. Until then the
contributions are only buffers: nothing of them reaches the job's arrays, so a snapshot or an
export never holds half a step. A collector that does not fill before its deadline is
aborted, its contributions dropped, and the step can be sent again.

The DataPlane mutates collectors under the job's lock; callers wait on `done` (a
concurrent Future, awaitable from the event loop) without any lock.
"""
from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from lrctl.server import optim
from lrctl.server.dataplane.replies import ReplyOptions
from lrctl.server.dataplane.slots import GradientBuffer


@dataclass(frozen=True)
class StepResult:
    """What a step did; `server_step` is the step the server expects next."""

    step: int
    lr: float
    skipped_nonfinite: bool
    server_step: int
    duplicate: bool


@dataclass
class Contribution:
    """One rank's gradient for one step: its dense tensors (in `buffer`) and its row gradients.
    `kept` marks a contribution whose call ended before the step completed while its client
    is still there to retry (its deadline passed): it keeps counting until the step times out."""

    rank: int
    buffer: GradientBuffer
    dense: list[str]
    rows: dict[str, optim.RowGradient]
    received_bytes: int
    options: ReplyOptions
    kept: bool = False


@dataclass(frozen=True)
class StepOutcome:
    """The answer every rank of an applied step gets: the result, and the parameters right
    after the step (a private host copy, None when no rank asked for them), with what the step
    touched for "touched" replies."""

    result: StepResult
    picture: np.ndarray | None
    dense: tuple[str, ...]
    touched_rows: dict[str, np.ndarray]


@dataclass(eq=False)
class StepCollector:
    step: int
    workers: int
    timeout_seconds: float
    deadline: float
    contributions: dict[int, Contribution] = field(default_factory=dict)
    done: Future = field(default_factory=Future)

    @staticmethod
    def open(step: int, workers: int, timeout_seconds: float) -> "StepCollector":
        return StepCollector(step, workers, timeout_seconds, time.monotonic() + timeout_seconds)

    @property
    def complete(self) -> bool:
        return len(self.contributions) == self.workers

    def missing(self) -> list[int]:
        return [rank for rank in range(self.workers) if rank not in self.contributions]

    def seconds_left(self) -> float:
        return max(self.deadline - time.monotonic(), 0.0)

    def in_rank_order(self) -> list[Contribution]:
        return [self.contributions[rank] for rank in sorted(self.contributions)]
