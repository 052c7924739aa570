"""Adam: torch.optim.Adam, with its weight decay coupled (L2) unless decoupled (AdamW)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Mapping

import numpy as np

from lrctl.server.backends.kernels import Array, Kernel
from lrctl.server.backends.numpy_reference import clipped_gradient, segments
from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.validation import Checks, is_real

f32 = np.float32


def check_betas(checks: Checks, algorithm: object) -> None:
    """torch's check of `algorithm.betas` (Adam and its relatives): a pair, each in [0, 1);
    a list becomes the tuple the frozen dataclass keeps."""
    betas = getattr(algorithm, "betas")
    pair = isinstance(betas, (tuple, list)) and len(betas) == 2
    if pair:
        object.__setattr__(algorithm, "betas", tuple(betas))
    checks.require(pair, "betas", betas, "must be a pair (beta1, beta2)")
    for index, beta in enumerate(betas if pair else ()):
        checks.require(is_real(beta) and 0 <= beta < 1, f"betas[{index}]", beta, "must be in [0, 1)")


def weight_decay_scalars(weight_decay: float, decoupled: bool, lr: float) -> tuple[np.float32, np.float32]:
    """The kernels' (coupled L2 coefficient, decoupled parameter factor 1 - lr * wd) of Adam and
    its relatives: one of them is the identity (0, or 1), as torch applies one or the other."""
    return f32(0 if decoupled else weight_decay), f32(1 - lr * weight_decay if decoupled else 1)


def moments(ps: Array, gs: Array, m: Array, v: Array, one_minus_beta1: np.float32, beta2: np.float32,
            one_minus_beta2: np.float32, weight_decay: np.float32, param_decay: np.float32) -> Array:
    """The references' shared first half, in torch's op order: weight decay (decoupled on the
    parameter, or coupled into the gradient), then both moments in place; returns the gradient
    the moments saw."""
    if param_decay != 1:
        ps *= param_decay
    if weight_decay != 0:
        gs = gs + weight_decay * ps
    m += one_minus_beta1 * (gs - m)
    v *= beta2
    v += one_minus_beta2 * gs * gs
    return gs


@ALGORITHMS.register("adam")
@dataclass(frozen=True)
class Adam:
    """torch.optim.Adam: weight_decay is coupled (L2 added to the gradient) unless decoupled."""

    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False
    decoupled_weight_decay: bool = False
    maximize: bool = False
    kernel: ClassVar[str] = "adam"
    sparse_rows: ClassVar[bool] = True

    def __post_init__(self) -> None:
        checks = Checks()
        check_betas(checks, self)
        checks.nonnegative("eps", self.eps)
        checks.nonnegative("weight_decay", self.weight_decay)
        checks.raise_if_any()

    def slots(self) -> Mapping[str, float]:
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0, **({"max_exp_avg_sq": 0.0} if self.amsgrad else {})}

    def for_rows(self, step: int) -> "Adam":
        """The update of a table's rows is torch.optim.SparseAdam's, which adds eps to sqrt(v)
        before the bias correction, where Adam adds it after: the same as Adam with eps divided
        by sqrt(1 - beta2^step) (the two differ where the second moment is near eps)."""
        return replace(self, eps=self.eps / (1 - self.betas[1] ** step) ** 0.5)

    def apply(self, kernel: Kernel, params: Array, grads: Array, slots: Mapping[str, Array], bounds: np.ndarray,
              scales: np.ndarray, clip: np.float32, lr: float, step: int) -> None:
        """param_decay is the decoupled factor (1 - lr * weight_decay) AdamW multiplies the
        parameter by first; the kernel's weight_decay is the coupled (L2) coefficient."""
        beta1, beta2 = self.betas
        kernel(params, grads, slots["exp_avg"], slots["exp_avg_sq"], slots.get("max_exp_avg_sq", params[:0]),
               bounds, scales, clip, f32(lr / (1 - beta1**step)), f32(1 - beta1), f32(beta2), f32(1 - beta2),
               f32((1 - beta2**step) ** 0.5), f32(self.eps),
               *weight_decay_scalars(self.weight_decay, self.decoupled_weight_decay, lr), bool(self.amsgrad))

    @staticmethod
    def reference(p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, bounds, scales, clip, step_size, one_minus_beta1,
                  beta2, one_minus_beta2, bias_correction2_sqrt, eps, weight_decay, param_decay, amsgrad) -> None:
        for lo, hi, scale in segments(bounds, scales):
            ps, m, v = p[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
            moments(ps, clipped_gradient(g[lo:hi], scale, clip), m, v, one_minus_beta1, beta2, one_minus_beta2,
                    weight_decay, param_decay)
            if amsgrad:
                vmax = max_exp_avg_sq[lo:hi]
                np.maximum(vmax, v, out=vmax)
                v = vmax
            ps -= step_size * m / (np.sqrt(v) / bias_correction2_sqrt + eps)
