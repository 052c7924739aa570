"""Lion: optax.lion (Chen et al. 2023), the sign of an interpolated momentum as the update,
plus decoupled weight decay; optax's argument names and defaults, as torch has no Lion.

Its one slot is optax's `mu`, kept under the torch-style name `exp_avg` every other lrctl
algorithm uses for a first moment (lion-pytorch's name too)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from lrctl.server.backends.kernels import Array, Kernel
from lrctl.server.backends.numpy_reference import clipped_gradient, segments
from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.validation import Checks, is_real

f32 = np.float32


@ALGORITHMS.register("lion")
@dataclass(frozen=True)
class Lion:
    """optax.lion: p -= lr * (sign((1 - b1) g + b1 m) + weight_decay * p); m <- (1 - b2) g + b2 m."""

    b1: float = 0.9
    b2: float = 0.99
    weight_decay: float = 1e-3
    maximize: ClassVar[bool] = False
    """optax has no maximize (see Algorithm.maximize)."""
    kernel: ClassVar[str] = "lion"
    sparse_rows: ClassVar[bool] = False

    def __post_init__(self) -> None:
        checks = Checks()
        for name in ("b1", "b2"):
            value = getattr(self, name)
            checks.require(is_real(value) and 0 <= value <= 1, name, value, "must be in [0, 1]")
        checks.nonnegative("weight_decay", self.weight_decay)
        checks.raise_if_any()

    def slots(self) -> Mapping[str, float]:
        return {"exp_avg": 0.0}

    def apply(self, kernel: Kernel, params: Array, grads: Array, slots: Mapping[str, Array], bounds: np.ndarray,
              scales: np.ndarray, clip: np.float32, lr: float, step: int) -> None:
        kernel(params, grads, slots["exp_avg"], bounds, scales, clip, f32(lr), f32(1 - self.b1), f32(self.b1),
               f32(1 - self.b2), f32(self.b2), f32(self.weight_decay))

    @staticmethod
    def reference(p, g, exp_avg, bounds, scales, clip, lr, one_minus_b1, b1, one_minus_b2, b2,
                  weight_decay) -> None:
        for lo, hi, scale in segments(bounds, scales):
            ps, m = p[lo:hi], exp_avg[lo:hi]
            gs = clipped_gradient(g[lo:hi], scale, clip)
            update = np.sign(one_minus_b1 * gs + b1 * m)
            m[...] = one_minus_b2 * gs + b2 * m
            if weight_decay != 0:
                update = update + weight_decay * ps
            ps -= lr * update
