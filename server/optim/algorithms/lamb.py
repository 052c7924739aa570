"""LAMB: optax.lamb (You et al. 2020), Adam's bias-corrected step plus decoupled weight decay,
rescaled per tensor by the trust ratio ||param|| / ||update||; optax's argument names and
defaults, as torch has no LAMB.

A whole-tensor algorithm: the trust ratio needs the norm of each tensor's whole update
before any element of it is applied. Its slots are optax's `mu` and `nu` under the names
every other lrctl Adam relative uses (exp_avg, exp_avg_sq).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar, Mapping

import numpy as np

from lrctl.server.backends.kernels import Array
from lrctl.server.backends.numpy_reference import l2_norm
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
    sparse_rows: ClassVar[bool] = False

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

    def slot_shapes(self, shape: tuple[int, ...]) -> Mapping[str, tuple[int, ...]]:
        return {"exp_avg": shape, "exp_avg_sq": shape}

    def apply_tensor(self, xp: ModuleType, param: Array, grad: Array, slots: Mapping[str, Array], lr: float,
                     step: int) -> None:
        """optax's op order: both moments as (1 - b) * g + b * moment, bias corrections divided
        out, then the decayed weights added, the trust ratio and the LR multiplied in."""
        m, v = slots["exp_avg"], slots["exp_avg_sq"]
        m[...] = f32(1 - self.b1) * grad + f32(self.b1) * m
        v[...] = f32(1 - self.b2) * (grad * grad) + f32(self.b2) * v
        update = (m / f32(1 - self.b1**step)) / (xp.sqrt(v / f32(1 - self.b2**step)) + f32(self.eps))
        if self.weight_decay != 0:
            update = update + f32(self.weight_decay) * param
        param_norm, update_norm = l2_norm(param), l2_norm(update)
        ratio = f32(1) if param_norm == 0 or update_norm == 0 else f32(f32(param_norm) / f32(update_norm))
        param -= f32(lr) * (update * ratio)
