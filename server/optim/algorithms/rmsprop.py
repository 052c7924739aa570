"""RMSprop: torch.optim.RMSprop (Keras calls alpha `rho`), optionally centered and with momentum."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from lrctl.server.backends.kernels import Array, Kernel
from lrctl.server.backends.numpy_reference import clipped_gradient, segments
from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.validation import Checks, is_real

f32 = np.float32


@ALGORITHMS.register("rmsprop")
@dataclass(frozen=True)
class RMSprop:
    """torch.optim.RMSprop (Keras calls alpha `rho`); eps is added after the square root."""

    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False
    maximize: bool = False
    kernel: ClassVar[str] = "rmsprop"
    sparse_rows: ClassVar[bool] = True

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_real(self.alpha) and 0 <= self.alpha <= 1, "alpha", self.alpha, "must be in [0, 1]")
        for name in ("eps", "weight_decay", "momentum"):
            checks.nonnegative(name, getattr(self, name))
        checks.raise_if_any()

    def slots(self) -> Mapping[str, float]:
        return {"square_avg": 0.0, **({"grad_avg": 0.0} if self.centered else {}),
                **({"momentum_buffer": 0.0} if self.momentum != 0 else {})}

    def apply(self, kernel: Kernel, params: Array, grads: Array, slots: Mapping[str, Array], bounds: np.ndarray,
              scales: np.ndarray, clip: np.float32, lr: float, step: int) -> None:
        unused = params[:0]
        kernel(params, grads, slots["square_avg"], slots.get("grad_avg", unused), slots.get("momentum_buffer", unused),
               bounds, scales, clip, f32(lr), f32(self.alpha), f32(1 - self.alpha), f32(self.eps),
               f32(self.weight_decay), f32(self.momentum), bool(self.centered))

    @staticmethod
    def reference(p, g, square_avg, grad_avg, buf, bounds, scales, clip, lr, alpha, one_minus_alpha, eps,
                  weight_decay, momentum, centered) -> None:
        for lo, hi, scale in segments(bounds, scales):
            ps, sq, gs = p[lo:hi], square_avg[lo:hi], clipped_gradient(g[lo:hi], scale, clip)
            if weight_decay != 0:
                gs = gs + weight_decay * ps
            sq *= alpha
            sq += one_minus_alpha * gs * gs
            if centered:
                ga = grad_avg[lo:hi]
                ga += one_minus_alpha * (gs - ga)
                avg = np.sqrt(sq - ga * ga) + eps
            else:
                avg = np.sqrt(sq) + eps
            if momentum != 0:
                bs = buf[lo:hi]
                bs *= momentum
                bs += gs / avg
                ps -= lr * bs
            else:
                ps -= lr * gs / avg
