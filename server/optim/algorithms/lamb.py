"""LAMB: optax.lamb (You et al. 2020), Adam's bias-corrected step plus decoupled weight decay,
rescaled per tensor by the trust ratio ||param|| / ||update||; optax's argument names and
defaults, as torch has no LAMB.

Elementwise but for the trust ratio, which needs the norm of each tensor's whole update
before any element of it is applied: its steps cut runs per tensor (`per_tensor`), so each
kernel segment is one tensor, and its kernel makes two passes (moments and both norms, then
the step). Its slots are optax's `mu` and `nu` under the names every other lrctl Adam
relative uses (exp_avg, exp_avg_sq).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from lrctl.server.backends.kernels import Array, Kernel
from lrctl.server.backends.numpy_reference import clipped_gradient, l2_norm, segments
from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.validation import Checks, is_real

f32 = np.float32


@ALGORITHMS.register("lamb")
@dataclass(frozen=True)
class Lamb:
    """optax.lamb: u = m_hat / (sqrt(v_hat) + eps) + weight_decay * p, p -= lr * u * ||p|| / ||u||
    (the ratio is 1 where either norm is zero)."""

    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-6
    weight_decay: float = 0.0
    maximize: ClassVar[bool] = False
    """optax has no maximize (see Algorithm.maximize)."""
    kernel: ClassVar[str] = "lamb"
    sparse_rows: ClassVar[bool] = False
    per_tensor: ClassVar[bool] = True
    """Each kernel segment must be one whole tensor (see Algorithm.per_tensor)."""

    def __post_init__(self) -> None:
        checks = Checks()
        for name in ("b1", "b2"):
            value = getattr(self, name)
            checks.require(is_real(value) and 0 <= value < 1, name, value, "must be in [0, 1)")
        checks.nonnegative("eps", self.eps)
        checks.nonnegative("weight_decay", self.weight_decay)
        checks.raise_if_any()

    def slots(self) -> Mapping[str, float]:
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    def apply(self, kernel: Kernel, params: Array, grads: Array, slots: Mapping[str, Array], bounds: np.ndarray,
              scales: np.ndarray, clip: np.float32, lr: float, step: int) -> None:
        kernel(params, grads, slots["exp_avg"], slots["exp_avg_sq"], bounds, scales, clip, f32(1 - self.b1),
               f32(self.b1), f32(1 - self.b2), f32(self.b2), f32(1 - self.b1**step), f32(1 - self.b2**step),
               f32(self.eps), f32(self.weight_decay), f32(lr))

    @staticmethod
    def reference(p, g, exp_avg, exp_avg_sq, bounds, scales, clip, one_minus_b1, b1, one_minus_b2, b2,
                  bias_correction1, bias_correction2, eps, weight_decay, lr) -> None:
        """optax's op order: both moments as (1 - b) * g + b * moment, bias corrections divided
        out, then the decayed weights added (even at weight_decay 0, as optax adds them), the
        trust ratio and the LR multiplied in."""
        for lo, hi, scale in segments(bounds, scales):
            ps, m, v = p[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
            gs = clipped_gradient(g[lo:hi], scale, clip)
            m[...] = one_minus_b1 * gs + b1 * m
            v[...] = one_minus_b2 * (gs * gs) + b2 * v
            update = (m / bias_correction1) / (np.sqrt(v / bias_correction2) + eps) + weight_decay * ps
            param_norm, update_norm = l2_norm(ps), l2_norm(update)
            ratio = f32(1) if param_norm == 0 or update_norm == 0 else f32(f32(param_norm) / f32(update_norm))
            ps -= lr * (update * ratio)
