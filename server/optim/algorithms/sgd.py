"""SGD: torch.optim.SGD, heavy-ball momentum whose buffer starts as the first gradient."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from lrctl.server.backends.kernels import Array, Kernel
from lrctl.server.backends.numpy_reference import clipped_gradient, segments
from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.validation import Checks, is_real

f32 = np.float32


@ALGORITHMS.register("sgd")
@dataclass(frozen=True)
class SGD:
    """torch.optim.SGD: heavy-ball momentum (buffer starts as the first gradient), optional Nesterov."""

    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    maximize: bool = False
    kernel: ClassVar[str] = "sgd"
    sparse_rows: ClassVar[bool] = True

    def __post_init__(self) -> None:
        checks = Checks()
        checks.nonnegative("momentum", self.momentum)
        checks.require(is_real(self.dampening), "dampening", self.dampening, "must be a finite number")
        checks.nonnegative("weight_decay", self.weight_decay)
        checks.require(
            not self.nesterov or (is_real(self.momentum) and self.momentum > 0 and self.dampening == 0),
            "nesterov", self.nesterov, "Nesterov momentum requires a momentum and zero dampening",
        )
        checks.raise_if_any()

    def slots(self) -> Mapping[str, float]:
        return {"momentum_buffer": 0.0} if self.momentum != 0 else {}

    def apply(self, kernel: Kernel, params: Array, grads: Array, slots: Mapping[str, Array], bounds: np.ndarray,
              scales: np.ndarray, clip: np.float32, lr: float, step: int) -> None:
        kernel(params, grads, slots.get("momentum_buffer", params[:0]), bounds, scales, clip, f32(lr),
               f32(self.weight_decay), f32(self.momentum), f32(1 - self.dampening), bool(self.nesterov), step == 1)

    @staticmethod
    def reference(p, g, buf, bounds, scales, clip, lr, weight_decay, momentum, one_minus_dampening,
                  nesterov, first_step) -> None:
        for lo, hi, scale in segments(bounds, scales):
            ps, gs = p[lo:hi], clipped_gradient(g[lo:hi], scale, clip)
            if weight_decay != 0:
                gs = gs + weight_decay * ps
            if momentum != 0:
                bs = buf[lo:hi]
                if first_step:
                    bs[...] = gs
                else:
                    bs *= momentum
                    bs += one_minus_dampening * gs
                gs = gs + momentum * bs if nesterov else bs
            ps -= lr * gs
