"""Adagrad: torch.optim.Adagrad, whose step size decays as lr / (1 + (t - 1) * lr_decay)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from lrctl.server.backends.kernels import Array, Kernel
from lrctl.server.backends.numpy_reference import clipped_gradient, segments
from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.validation import Checks

f32 = np.float32


@ALGORITHMS.register("adagrad")
@dataclass(frozen=True)
class Adagrad:
    """torch.optim.Adagrad: the step size decays as lr / (1 + (t - 1) * lr_decay)."""

    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10
    maximize: bool = False
    kernel: ClassVar[str] = "adagrad"
    sparse_rows: ClassVar[bool] = True

    def __post_init__(self) -> None:
        checks = Checks()
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            checks.nonnegative(name, getattr(self, name))
        checks.raise_if_any()

    def slots(self) -> Mapping[str, float]:
        return {"sum": self.initial_accumulator_value}

    def apply(self, kernel: Kernel, params: Array, grads: Array, slots: Mapping[str, Array], bounds: np.ndarray,
              scales: np.ndarray, clip: np.float32, lr: float, step: int) -> None:
        clr = lr / (1 + (step - 1) * self.lr_decay)
        kernel(params, grads, slots["sum"], bounds, scales, clip, f32(clr), f32(self.weight_decay), f32(self.eps))

    @staticmethod
    def reference(p, g, state_sum, bounds, scales, clip, clr, weight_decay, eps) -> None:
        for lo, hi, scale in segments(bounds, scales):
            ps, ss, gs = p[lo:hi], state_sum[lo:hi], clipped_gradient(g[lo:hi], scale, clip)
            if weight_decay != 0:
                gs = gs + weight_decay * ps
            ss += gs * gs
            ps -= clr * gs / (np.sqrt(ss) + eps)
