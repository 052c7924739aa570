"""The reference kernels: torch.optim's single-tensor equations, op for op, in NumPy.

Clear rather than fast (each line is a pass over memory); the fused kernels are tested
against these and these against torch. Written with operators and NumPy ufuncs only, which
CuPy arrays also accept (`__array_ufunc__`), so the same code runs on either array module.
Scalars are float32 and arrays float32, so NumPy keeps every intermediate in float32 as
torch does.
"""
from __future__ import annotations

import numpy as np

from lrctl.server.backends.kernels import Array, Kernels


def _segments(bounds: Array, scales: Array):
    """(lo, hi, gradient scale) of each segment."""
    for s in range(len(scales)):
        yield int(bounds[s]), int(bounds[s + 1]), np.float32(scales[s])


def _gradient(g: Array, scale: np.float32, clip: np.float32) -> Array:
    """The gradient as the optimizer sees it: scaled by the clip-norm factor, then clamped."""
    return np.clip(g * scale, -clip, clip)


def segment_sumsq(g: Array, bounds: Array) -> np.ndarray:
    return np.array(
        [float(np.sum(np.square(g[int(bounds[s]):int(bounds[s + 1])], dtype=np.float64)))
         for s in range(len(bounds) - 1)]
    )


def sgd(p, g, buf, bounds, scales, clip, lr, weight_decay, momentum, one_minus_dampening,
        nesterov, first_step) -> None:
    for lo, hi, scale in _segments(bounds, scales):
        ps, gs = p[lo:hi], _gradient(g[lo:hi], scale, clip)
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


def adagrad(p, g, state_sum, bounds, scales, clip, clr, weight_decay, eps) -> None:
    for lo, hi, scale in _segments(bounds, scales):
        ps, ss, gs = p[lo:hi], state_sum[lo:hi], _gradient(g[lo:hi], scale, clip)
        if weight_decay != 0:
            gs = gs + weight_decay * ps
        ss += gs * gs
        ps -= clr * gs / (np.sqrt(ss) + eps)


def rmsprop(p, g, square_avg, grad_avg, buf, bounds, scales, clip, lr, alpha,
            one_minus_alpha, eps, weight_decay, momentum, centered) -> None:
    for lo, hi, scale in _segments(bounds, scales):
        ps, sq, gs = p[lo:hi], square_avg[lo:hi], _gradient(g[lo:hi], scale, clip)
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


def adam(p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, bounds, scales, clip, step_size,
         one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps, weight_decay,
         param_decay, amsgrad) -> None:
    for lo, hi, scale in _segments(bounds, scales):
        ps, m, v = p[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
        gs = _gradient(g[lo:hi], scale, clip)
        if param_decay != 1:
            ps *= param_decay
        if weight_decay != 0:
            gs = gs + weight_decay * ps
        m += one_minus_beta1 * (gs - m)
        v *= beta2
        v += one_minus_beta2 * gs * gs
        if amsgrad:
            vmax = max_exp_avg_sq[lo:hi]
            np.maximum(vmax, v, out=vmax)
            v = vmax
        ps -= step_size * m / (np.sqrt(v) / bias_correction2_sqrt + eps)


KERNELS = Kernels("numpy-reference", segment_sumsq, sgd, adagrad, rmsprop, adam)
