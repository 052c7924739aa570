"""Adafactor: torch.optim.Adafactor (Shazeer & Stern 2018, torch's variant): a second moment
factored into row and column means for every tensor of two or more dimensions, a relative
step size min(lr, 1 / sqrt(step)) scaled by the parameter's RMS, and the update clipped to
RMS d.

A whole-tensor algorithm with slots shaped per tensor, as torch's: a tensor of shape
(..., R, C) keeps `row_var` (..., R, 1) and `col_var` (..., 1, C), a vector or scalar keeps a
full `variance`, and each tensor's share of the other slots is empty. So a 4096 x 4096 matrix
keeps 8,192 floats of state where Adam keeps 33,554,432. torch's `eps=(eps1, eps2)` pair is
two fields here; eps1 unset is float32's machine epsilon, as torch's None is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar, Mapping

import numpy as np

from lrctl.server.backends.kernels import Array
from lrctl.server.backends.numpy_reference import l2_norm, lerp
from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.validation import Checks, is_real

f32 = np.float32
EMPTY = (0,)


@ALGORITHMS.register("adafactor")
@dataclass(frozen=True)
class Adafactor:
    """torch.optim.Adafactor with torch's argument names and defaults (lr is the policy's)."""

    beta2_decay: float = -0.8
    eps1: float | None = None
    eps2: float = 1e-3
    d: float = 1.0
    weight_decay: float = 0.0
    maximize: bool = False
    sparse_rows: ClassVar[bool] = False

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_real(self.beta2_decay) and self.beta2_decay <= 0, "beta2_decay", self.beta2_decay,
                       "must be <= 0")
        checks.require(self.eps1 is None or (is_real(self.eps1) and self.eps1 >= 0), "eps1", self.eps1,
                       "must be >= 0")
        checks.nonnegative("eps2", self.eps2)
        checks.require(is_real(self.d) and self.d >= 1, "d", self.d, "must be >= 1")
        checks.nonnegative("weight_decay", self.weight_decay)
        checks.raise_if_any()

    def slots(self) -> Mapping[str, float]:
        return {"row_var": 0.0, "col_var": 0.0, "variance": 0.0}

    def slot_shapes(self, shape: tuple[int, ...]) -> Mapping[str, tuple[int, ...]]:
        """torch's shapes, but none for a tensor of no elements, which is never stepped (torch
        would divide by its size) and whose (..., 1, C) factor would outgrow it."""
        if math.prod(shape) == 0:
            return {"row_var": EMPTY, "col_var": EMPTY, "variance": EMPTY}
        if len(shape) < 2:
            return {"row_var": EMPTY, "col_var": EMPTY, "variance": shape}
        return {"row_var": (*shape[:-1], 1), "col_var": (*shape[:-2], 1, shape[-1]), "variance": EMPTY}

    def apply_tensor(self, xp: ModuleType, param: Array, grad: Array, slots: Mapping[str, Array], lr: float,
                     step: int) -> None:
        """torch's single-tensor step, op for op, its Python-float scalars in double."""
        eps1 = float(np.finfo(np.float32).eps) if self.eps1 is None else self.eps1
        one_minus_beta2 = float(step) ** self.beta2_decay
        rho = min(lr, 1 / float(step) ** 0.5)
        alpha = max(self.eps2, l2_norm(param) / param.size ** 0.5) * rho
        if self.weight_decay != 0:
            param *= f32(1 - lr * self.weight_decay)
        if grad.ndim > 1:
            row_var, col_var = slots["row_var"], slots["col_var"]
            row_var[...] = lerp(row_var, _mean_square(xp, grad, -1), one_minus_beta2)
            col_var[...] = lerp(col_var, _mean_square(xp, grad, -2), one_minus_beta2)
            estimate = row_var @ col_var
            estimate /= xp.maximum(xp.mean(row_var, axis=-2, keepdims=True, dtype=xp.float32), f32(eps1))
        else:
            variance = slots["variance"]
            variance[...] = lerp(variance, grad * grad, one_minus_beta2)
            estimate = variance.copy()
        update = f32(1) / xp.sqrt(xp.maximum(estimate, f32(eps1 * eps1)))
        update *= grad
        denom = max(1.0, l2_norm(update) / (update.size ** 0.5 * self.d))
        param += f32(-alpha / denom) * update


def _mean_square(xp: ModuleType, grad: Array, axis: int) -> Array:
    """torch.norm(grad, dim=axis, keepdim=True).square_().div_(grad.size(axis)), in float32."""
    norm = xp.sqrt(xp.sum(xp.square(grad, dtype=xp.float64), axis=axis, keepdims=True)).astype(xp.float32)
    return norm * norm / f32(grad.shape[axis])
