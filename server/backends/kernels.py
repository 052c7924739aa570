"""The contract every array backend implements: one in-place kernel per optimizer family.

A kernel makes one optimizer step over flat float32 buffers. The gradient arrives raw:
the buffer is cut into segments (`bounds`, S + 1 offsets) and each segment's gradient is
multiplied by `scales[s]` (the clip-by-norm factor, 1.0 when there is none) and clamped to
`[-clip, clip]` (inf when there is no clipvalue) inside the kernel, so clipping costs no
extra pass. Scalars arrive as float32, already derived from the step (bias corrections,
decayed LR) the way torch.optim derives them, so every backend computes the same float32
expression per element. A slot an option does not use (no momentum, no amsgrad) is an
empty array.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

Array = Any
"""A NumPy or CuPy ndarray."""


@dataclass(frozen=True)
class Kernels:
    """One backend's implementation of the optimizer math.

    segment_sumsq(g, bounds) -> NumPy float64[S] on the host: each segment's sum of squares,
        accumulated in float64 so it is finite exactly when every element is (the non-finite
        check and the clip norms share this one read of the gradient).
    sgd(p, g, momentum_buffer, bounds, scales, clip, lr, weight_decay, momentum,
        one_minus_dampening, nesterov, first_step)
    adagrad(p, g, sum, bounds, scales, clip, clr, weight_decay, eps)
    rmsprop(p, g, square_avg, grad_avg, momentum_buffer, bounds, scales, clip, lr, alpha,
        one_minus_alpha, eps, weight_decay, momentum, centered)
    adam(p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, bounds, scales, clip, step_size,
        one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps, weight_decay,
        param_decay, amsgrad): weight_decay is the coupled (L2) coefficient, param_decay the
        decoupled factor (1 - lr * weight_decay) AdamW multiplies the parameter by first
    """

    name: str
    segment_sumsq: Callable[..., Array]
    sgd: Callable[..., None]
    adagrad: Callable[..., None]
    rmsprop: Callable[..., None]
    adam: Callable[..., None]
