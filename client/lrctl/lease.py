"""A lease: the LRs of a run of steps, valid while the job's version is unchanged."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lease:
    first_step: int
    lrs: list[float]
    version: int

    def get(self, step: int) -> float | None:
        """The leased LR for `step`, or None when the step is outside the lease."""
        offset = step - self.first_step
        return self.lrs[offset] if 0 <= offset < len(self.lrs) else None
