"""AdamW: torch.optim.AdamW, Adam whose weight decay is decoupled (Adam's slots, step and kernel)."""
from __future__ import annotations

from dataclasses import dataclass, field

from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.optim.algorithms.adam import Adam


@ALGORITHMS.register("adamw")
@dataclass(frozen=True)
class AdamW(Adam):
    """torch.optim.AdamW: Adam whose weight decay multiplies the parameter by (1 - lr * wd)."""

    weight_decay: float = 1e-2
    decoupled_weight_decay: bool = field(default=True, init=False)
