"""Muon: torch.optim.Muon (Jordan et al. 2024), SGD momentum whose update is orthogonalized by
a Newton-Schulz iteration run in bfloat16, plus decoupled weight decay; 2-D parameters only,
as torch's (a job with any other tensor is refused at upload).

The matrix step runs on the backend's array module: NumPy's float32 matmul on the CPU,
CuPy's (cuBLAS) on a GPU. torch runs the iteration on bfloat16 tensors; lrctl holds the
iterate in float32 and rounds it to bfloat16 after every op torch rounds after (the cast,
the normalization, each product), so each value torch stores is a bfloat16 here too. Only
the order of the float32 sums inside each product differs from torch's, which moves a
result by at most one bfloat16 step (2^-8 relative) where the sum lies on a rounding edge.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar, Mapping

import numpy as np

from lrctl.protocol.bfloat16 import rounded
from lrctl.server.backends import Backend
from lrctl.server.backends.kernels import Array
from lrctl.server.backends.numpy_reference import l2_norm, lerp
from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.validation import Checks, is_int, is_real

f32 = np.float32
ADJUST_LR_FNS = ("original", "match_rms_adamw")


def _bfloat16(value: float) -> float:
    """A scalar rounded to bfloat16, as torch's 0-d bfloat16 norm and clamp hold it."""
    return float(rounded(np.array([value], dtype=np.float32))[0])


def newton_schulz(xp: ModuleType, update: Array, coefficients: tuple[float, float, float], steps: int,
                  eps: float) -> Array:
    """torch's _zeropower_via_newtonschulz in bfloat16 values: X = G / max(||G||, eps), then
    `steps` times A = X X^T, B = b A + c A A, X = a X + B X (on the wide orientation)."""
    a, b, c = (f32(k) for k in coefficients)
    x = rounded(update)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    norm = max(_bfloat16(l2_norm(x)), _bfloat16(eps))
    x = rounded(x / f32(norm))
    for _ in range(steps):
        gram = rounded(x @ x.T)
        gram_update = rounded(b * gram + c * (gram @ gram))
        x = rounded(a * x + gram_update @ x)
    return x.T if tall else x


@ALGORITHMS.register("muon")
@dataclass(frozen=True)
class Muon:
    """torch.optim.Muon: B = lerp(B, g, 1 - momentum); U = NS(lerp(g, B, momentum) if nesterov
    else B); p *= 1 - lr * weight_decay; p -= lr * adjust(shape) * U."""

    weight_decay: float = 0.1
    momentum: float = 0.95
    nesterov: bool = True
    ns_coefficients: tuple[float, float, float] = (3.4445, -4.775, 2.0315)
    eps: float = 1e-7
    ns_steps: int = 5
    adjust_lr_fn: str | None = None
    """None (or "", the proto's unset string) is "original", as in torch."""
    maximize: ClassVar[bool] = False
    """torch.optim.Muon has no maximize (see Algorithm.maximize)."""
    sparse_rows: ClassVar[bool] = False

    def __post_init__(self) -> None:
        checks = Checks()
        checks.nonnegative("weight_decay", self.weight_decay)
        checks.nonnegative("momentum", self.momentum)
        checks.nonnegative("eps", self.eps)
        triple = isinstance(self.ns_coefficients, (tuple, list)) and len(self.ns_coefficients) == 3
        if triple:
            object.__setattr__(self, "ns_coefficients", tuple(self.ns_coefficients))
        checks.require(triple and all(is_real(k) for k in self.ns_coefficients), "ns_coefficients",
                       self.ns_coefficients, "must be three finite numbers (a, b, c)")
        checks.require(is_int(self.ns_steps) and 0 <= self.ns_steps < 100, "ns_steps", self.ns_steps,
                       "must be an integer in [0, 100)")
        if self.adjust_lr_fn == "":
            object.__setattr__(self, "adjust_lr_fn", None)
        if self.adjust_lr_fn is not None:
            checks.one_of("adjust_lr_fn", self.adjust_lr_fn, ADJUST_LR_FNS)
        checks.raise_if_any()

    def slots(self) -> Mapping[str, float]:
        return {"momentum_buffer": 0.0}

    def slot_shapes(self, shape: tuple[int, ...]) -> Mapping[str, tuple[int, ...]]:
        if len(shape) != 2:
            raise InvalidArgument(FieldViolation("", f"Muon only supports 2D parameters, got shape {list(shape)}: "
                                                     "step the others with another job's optimizer (AdamW)"))
        return {"momentum_buffer": shape}

    def adjusted_lr(self, lr: float, shape: tuple[int, ...]) -> float:
        """torch's _adjust_lr: sqrt(max(1, A / B)) ("original", Keller Jordan's) or
        0.2 sqrt(max(A, B)) ("match_rms_adamw", Moonshot's) times the LR."""
        rows, cols = shape
        if self.adjust_lr_fn == "match_rms_adamw":
            return lr * 0.2 * math.sqrt(max(rows, cols))
        return lr * math.sqrt(max(1, rows / cols))

    def apply_tensor(self, backend: Backend, param: Array, grad: Array, slots: Mapping[str, Array], lr: float,
                     step: int) -> None:
        buf = slots["momentum_buffer"]
        buf[...] = lerp(buf, grad, 1 - self.momentum)
        update = lerp(grad, buf, self.momentum) if self.nesterov else buf
        orthogonal = newton_schulz(backend.xp, update, self.ns_coefficients, self.ns_steps, self.eps)
        param *= f32(1 - lr * self.weight_decay)
        param -= f32(self.adjusted_lr(lr, param.shape)) * orthogonal
