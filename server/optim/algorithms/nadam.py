"""NAdam: torch.optim.NAdam, Adam with Nesterov momentum whose coefficient mu_t warms up with
momentum_decay; its bias correction is the product of every mu so far, derived from the step."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from lrctl.server.backends.kernels import Array, Kernel
from lrctl.server.backends.numpy_reference import clipped_gradient, segments
from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.optim.algorithms.adam import check_betas, moments, weight_decay_scalars
from lrctl.server.validation import Checks

f32 = np.float32

MU_PRODUCT_TERMS = 53
"""Terms of mu_product's series: the k-th is at most 2^-k times the first, so 53 (float64's
mantissa) leave a truncation below float64 rounding."""


def momentum_coefficient(beta1: float, momentum_decay: float, step: int) -> float:
    """torch's mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay)), in float64 as torch's."""
    return beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))


def mu_product(beta1: float, momentum_decay: float, step: int) -> float:
    """prod_{i=1..step} mu_i in O(1) time: torch keeps it as per-parameter state and multiplies
    it by mu each step; lrctl's tensors all step together, so it is a function of the job's
    step count, and no state. With y_i = 0.96 ** (i * momentum_decay) = exp(i a), a <= 0,

        log prod (1 - y_i / 2) = -sum_k 2^-k / k * sum_i exp(i k a),

    whose inner sum is geometric (step when a = 0) and whose outer series converges at least
    as fast as 2^-k. torch multiplies in float32, one rounding a step; this is float64 and
    exact to float64 rounding, which changes torch's step size by a few float32 ulps at most
    (only while mu_product is not negligible next to 1, i.e. in the first steps)."""
    if step == 0:
        return 1.0
    if beta1 == 0:
        return 0.0
    a = momentum_decay * math.log(0.96)
    series = 0.0
    for k in range(1, MU_PRODUCT_TERMS + 1):
        geometric = step if a == 0 else math.exp(k * a) * math.expm1(step * k * a) / math.expm1(k * a)
        series += 0.5**k / k * geometric
    return math.exp(step * math.log(beta1) - series)


@ALGORITHMS.register("nadam")
@dataclass(frozen=True)
class NAdam:
    """torch.optim.NAdam: weight_decay is coupled (L2) unless decoupled (as AdamW's)."""

    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum_decay: float = 4e-3
    decoupled_weight_decay: bool = False
    maximize: bool = False
    kernel: ClassVar[str] = "nadam"
    sparse_rows: ClassVar[bool] = False

    def __post_init__(self) -> None:
        checks = Checks()
        check_betas(checks, self)
        for name in ("eps", "weight_decay", "momentum_decay"):
            checks.nonnegative(name, getattr(self, name))
        checks.raise_if_any()

    def slots(self) -> Mapping[str, float]:
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    def apply(self, kernel: Kernel, params: Array, grads: Array, slots: Mapping[str, Array], bounds: np.ndarray,
              scales: np.ndarray, clip: np.float32, lr: float, step: int) -> None:
        """grad_step and avg_step are torch's two addcdiv values (negated): the weights of the
        gradient and of the first moment in the Nesterov step."""
        beta1, beta2 = self.betas
        mu = momentum_coefficient(beta1, self.momentum_decay, step)
        mu_next = momentum_coefficient(beta1, self.momentum_decay, step + 1)
        product = mu_product(beta1, self.momentum_decay, step)
        kernel(params, grads, slots["exp_avg"], slots["exp_avg_sq"], bounds, scales, clip, f32(1 - beta1),
               f32(beta2), f32(1 - beta2), f32(1 - beta2**step), f32(self.eps),
               *weight_decay_scalars(self.weight_decay, self.decoupled_weight_decay, lr),
               f32(lr * (1 - mu) / (1 - product)), f32(lr * mu_next / (1 - product * mu_next)))

    @staticmethod
    def reference(p, g, exp_avg, exp_avg_sq, bounds, scales, clip, one_minus_beta1, beta2, one_minus_beta2,
                  bias_correction2, eps, weight_decay, param_decay, grad_step, avg_step) -> None:
        for lo, hi, scale in segments(bounds, scales):
            ps, m, v = p[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
            gs = moments(ps, clipped_gradient(g[lo:hi], scale, clip), m, v, one_minus_beta1, beta2, one_minus_beta2,
                         weight_decay, param_decay)
            denom = np.sqrt(v / bias_correction2) + eps
            ps -= grad_step * gs / denom
            ps -= avg_step * m / denom
