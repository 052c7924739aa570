"""Adadelta: torch.optim.Adadelta, whose step is the ratio of two running RMS (of past
updates and of gradients) times the LR (torch's default LR is 1.0; here the policy's)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from lrctl.server.backends.kernels import Array, Kernel
from lrctl.server.backends.numpy_reference import clipped_gradient, segments
from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.validation import Checks, is_real

f32 = np.float32


@ALGORITHMS.register("adadelta")
@dataclass(frozen=True)
class Adadelta:
    """torch.optim.Adadelta: eps is added inside both square roots; L2 weight decay."""

    rho: float = 0.9
    eps: float = 1e-6
    weight_decay: float = 0.0
    maximize: bool = False
    kernel: ClassVar[str] = "adadelta"
    sparse_rows: ClassVar[bool] = False

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_real(self.rho) and 0 <= self.rho <= 1, "rho", self.rho, "must be in [0, 1]")
        checks.nonnegative("eps", self.eps)
        checks.nonnegative("weight_decay", self.weight_decay)
        checks.raise_if_any()

    def slots(self) -> Mapping[str, float]:
        return {"square_avg": 0.0, "acc_delta": 0.0}

    def apply(self, kernel: Kernel, params: Array, grads: Array, slots: Mapping[str, Array], bounds: np.ndarray,
              scales: np.ndarray, clip: np.float32, lr: float, step: int) -> None:
        kernel(params, grads, slots["square_avg"], slots["acc_delta"], bounds, scales, clip, f32(lr), f32(self.rho),
               f32(1 - self.rho), f32(self.eps), f32(self.weight_decay))

    @staticmethod
    def reference(p, g, square_avg, acc_delta, bounds, scales, clip, lr, rho, one_minus_rho, eps,
                  weight_decay) -> None:
        for lo, hi, scale in segments(bounds, scales):
            ps, sq, acc = p[lo:hi], square_avg[lo:hi], acc_delta[lo:hi]
            gs = clipped_gradient(g[lo:hi], scale, clip)
            if weight_decay != 0:
                gs = gs + weight_decay * ps
            sq *= rho
            sq += one_minus_rho * gs * gs
            delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * gs
            acc *= rho
            acc += one_minus_rho * delta * delta
            ps -= lr * delta
