"""Adamax: torch.optim.Adamax, Adam with the infinity norm (a decayed running maximum of
|grad|) in place of the second moment."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from lrctl.server.backends.kernels import Array, Kernel
from lrctl.server.backends.numpy_reference import clipped_gradient, segments
from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.optim.algorithms.adam import check_betas
from lrctl.server.validation import Checks

f32 = np.float32


@ALGORITHMS.register("adamax")
@dataclass(frozen=True)
class Adamax:
    """torch.optim.Adamax: eps is added to |grad| before the running maximum; L2 weight decay."""

    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    maximize: bool = False
    kernel: ClassVar[str] = "adamax"
    sparse_rows: ClassVar[bool] = False

    def __post_init__(self) -> None:
        checks = Checks()
        check_betas(checks, self)
        checks.nonnegative("eps", self.eps)
        checks.nonnegative("weight_decay", self.weight_decay)
        checks.raise_if_any()

    def slots(self) -> Mapping[str, float]:
        return {"exp_avg": 0.0, "exp_inf": 0.0}

    def apply(self, kernel: Kernel, params: Array, grads: Array, slots: Mapping[str, Array], bounds: np.ndarray,
              scales: np.ndarray, clip: np.float32, lr: float, step: int) -> None:
        beta1, beta2 = self.betas
        kernel(params, grads, slots["exp_avg"], slots["exp_inf"], bounds, scales, clip, f32(1 - beta1), f32(beta2),
               f32(self.eps), f32(self.weight_decay), f32(lr / (1 - beta1**step)))

    @staticmethod
    def reference(p, g, exp_avg, exp_inf, bounds, scales, clip, one_minus_beta1, beta2, eps, weight_decay,
                  clr) -> None:
        for lo, hi, scale in segments(bounds, scales):
            ps, m, u = p[lo:hi], exp_avg[lo:hi], exp_inf[lo:hi]
            gs = clipped_gradient(g[lo:hi], scale, clip)
            if weight_decay != 0:
                gs = gs + weight_decay * ps
            m += one_minus_beta1 * (gs - m)
            u *= beta2
            np.maximum(u, np.abs(gs) + eps, out=u)
            ps -= clr * m / u
