"""RAdam: torch.optim.RAdam, Adam whose adaptive step is rectified once the variance of its
estimate is tractable (rho_t > 5) and is plain momentum SGD before that."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from lrctl.server.backends.kernels import Array, Kernel
from lrctl.server.backends.numpy_reference import clipped_gradient, segments
from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.optim.algorithms.adam import check_betas, moments, weight_decay_scalars
from lrctl.server.validation import Checks

f32 = np.float32


@ALGORITHMS.register("radam")
@dataclass(frozen=True)
class RAdam:
    """torch.optim.RAdam: weight_decay is coupled (L2) unless decoupled (as AdamW's)."""

    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    decoupled_weight_decay: bool = False
    maximize: bool = False
    kernel: ClassVar[str] = "radam"
    sparse_rows: ClassVar[bool] = False

    def __post_init__(self) -> None:
        checks = Checks()
        check_betas(checks, self)
        checks.nonnegative("eps", self.eps)
        checks.nonnegative("weight_decay", self.weight_decay)
        checks.raise_if_any()

    def slots(self) -> Mapping[str, float]:
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    def apply(self, kernel: Kernel, params: Array, grads: Array, slots: Mapping[str, Array], bounds: np.ndarray,
              scales: np.ndarray, clip: np.float32, lr: float, step: int) -> None:
        """rho_t is the length of the approximated simple moving average and rect torch's
        rectification term; both decide per step, in float64, as torch's do."""
        beta1, beta2 = self.betas
        bias_correction2 = 1 - beta2**step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        rectified = rho_t > 5.0
        rect = (((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                if rectified else 1.0)
        kernel(params, grads, slots["exp_avg"], slots["exp_avg_sq"], bounds, scales, clip, f32(1 - beta1),
               f32(beta2), f32(1 - beta2), f32(1 - beta1**step), f32(lr), f32(bias_correction2**0.5),
               f32(self.eps), f32(rect), *weight_decay_scalars(self.weight_decay, self.decoupled_weight_decay, lr),
               bool(rectified))

    @staticmethod
    def reference(p, g, exp_avg, exp_avg_sq, bounds, scales, clip, one_minus_beta1, beta2, one_minus_beta2,
                  bias_correction1, lr, bias_correction2_sqrt, eps, rect, weight_decay, param_decay,
                  rectified) -> None:
        for lo, hi, scale in segments(bounds, scales):
            ps, m, v = p[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
            moments(ps, clipped_gradient(g[lo:hi], scale, clip), m, v, one_minus_beta1, beta2, one_minus_beta2,
                    weight_decay, param_decay)
            if rectified:
                # torch's scalar / tensor is tensor.reciprocal() * scalar
                adaptive = np.reciprocal(np.sqrt(v) + eps) * bias_correction2_sqrt
                ps -= m / bias_correction1 * lr * adaptive * rect
            else:
                ps -= m / bias_correction1 * lr
