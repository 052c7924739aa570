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
from typing import ClassVar, Mapping

import numpy as np

from lrctl.server.backends import Backend
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
    kernel: ClassVar[str] = "adafactor"
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

    def apply_tensor(self, backend: Backend, param: Array, grad: Array, slots: Mapping[str, Array], lr: float,
                     step: int) -> None:
        """torch's single-tensor step, op for op, its Python-float scalars in double: a tensor of
        two or more dimensions through the backend's `kernel` (the batch of matrices it is),
        a vector or scalar as array operations (a bias: too small for a kernel to matter)."""
        eps1 = float(np.finfo(np.float32).eps) if self.eps1 is None else self.eps1
        one_minus_beta2 = float(step) ** self.beta2_decay
        rho = min(lr, 1 / math.sqrt(step))
        decay = f32(1 - lr * self.weight_decay)
        if grad.ndim < 2:
            self._step_vector(param, grad, slots["variance"], one_minus_beta2, eps1, rho, decay)
            return
        batched = (-1, *param.shape[-2:])
        kernel = backend.kernels.step_kernel(self.kernel, self.reference)
        kernel(param.reshape(batched), grad.reshape(batched), slots["row_var"].reshape(batched[:2]),
               slots["col_var"].reshape(batched[0], batched[2]), one_minus_beta2, eps1, self.eps2, rho, self.d, decay)

    def _step_vector(self, param: Array, grad: Array, variance: Array, one_minus_beta2: float, eps1: float,
                     rho: float, decay: np.float32) -> None:
        alpha = max(self.eps2, l2_norm(param) / math.sqrt(param.size)) * rho
        param *= decay
        variance[...] = lerp(variance, grad * grad, one_minus_beta2)
        update = f32(1) / np.sqrt(np.maximum(variance, f32(eps1 * eps1)))
        update *= grad
        param += f32(-alpha / _clip_divisor(update, self.d)) * update

    @staticmethod
    def reference(p: Array, g: Array, row_var: Array, col_var: Array, one_minus_beta2: float, eps1: float,
                  eps2: float, rho: float, d: float, decay: np.float32) -> None:
        """One step of a batch of matrices: p and g (B, R, C), row_var (B, R), col_var (B, C).
        torch's op order, but for the mean of the row factors, which is summed in float64 and
        rounded (torch sums float32), so that a kernel's loop reproduces it."""
        alpha = max(eps2, l2_norm(p) / math.sqrt(p.size)) * rho
        p *= decay
        row_var[...] = lerp(row_var, _mean_square(g, 2), one_minus_beta2)
        col_var[...] = lerp(col_var, _mean_square(g, 1), one_minus_beta2)
        row_mean = row_var.mean(axis=1, dtype=np.float64).astype(np.float32)
        estimate = row_var[:, :, None] * col_var[:, None, :]
        estimate /= np.maximum(row_mean, f32(eps1))[:, None, None]
        update = f32(1) / np.sqrt(np.maximum(estimate, f32(eps1 * eps1)))
        update *= g
        p += f32(-alpha / _clip_divisor(update, d)) * update


def _mean_square(grad: Array, axis: int) -> Array:
    """torch.norm(grad, dim=axis).square_().div_(grad.size(axis)), in float32."""
    norm = np.sqrt(np.sum(np.square(grad, dtype=np.float64), axis=axis)).astype(np.float32)
    return norm * norm / f32(grad.shape[axis])


def _clip_divisor(update: Array, d: float) -> float:
    """max(1, RMS(update) / d): what the update is divided by to clip its RMS to d."""
    return max(1.0, l2_norm(update) / (math.sqrt(update.size) * d))
