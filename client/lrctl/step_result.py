"""What one data-plane step answered: the parameters and how the step went."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lrctl.v1 import optimizer_pb2


@dataclass(frozen=True)
class StepResult:
    """`job.step(...)`'s answer.

    `params` holds the updated tensors ({name: ndarray}, or `Rows` for touched rows), or None
    for `reply="none"`. `lr` is the LR the step used. `skipped_nonfinite`: the gradient held
    NaN/inf, so nothing was written (the SDK also warns). `duplicate`: a retry of the step
    just applied; nothing was applied again and `params` are the current ones.
    `server_step` is the next step the server expects.
    """

    step: int
    server_step: int
    lr: float
    skipped_nonfinite: bool
    duplicate: bool
    params: dict[str, Any] | None

    @classmethod
    def from_proto(cls, result: optimizer_pb2.StepResult, params: dict[str, Any] | None) -> "StepResult":
        return cls(result.step, result.server_step, result.lr, result.skipped_nonfinite, result.duplicate, params)
