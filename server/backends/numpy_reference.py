"""What every algorithm's NumPy reference update shares, and the reference gradient measure.

Clear rather than fast (each line is a pass over memory); the fused kernels are tested
against the references and these against torch. Written with operators and NumPy ufuncs
only, which CuPy arrays also accept (`__array_ufunc__`), so the same code runs on either
array module. Scalars are float32 and arrays float32, so NumPy keeps every intermediate in
float32 as torch does. Each algorithm's own update is its `reference` (optim/algorithms).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from lrctl.server.backends.kernels import Array, Kernels


def segments(bounds: Array, scales: Array) -> Iterator[tuple[int, int, np.float32]]:
    """(lo, hi, gradient scale) of each segment."""
    for s in range(len(scales)):
        yield int(bounds[s]), int(bounds[s + 1]), np.float32(scales[s])


def clipped_gradient(g: Array, scale: np.float32, clip: np.float32) -> Array:
    """The gradient as the optimizer sees it: scaled by the clip-norm factor, then clamped."""
    return np.clip(g * scale, -clip, clip)


def segment_sumsq(g: Array, bounds: Array) -> np.ndarray:
    return np.array(
        [float(np.sum(np.square(g[int(bounds[s]):int(bounds[s + 1])], dtype=np.float64)))
         for s in range(len(bounds) - 1)]
    )


KERNELS = Kernels("numpy-reference", segment_sumsq)
"""No fused kernels: every algorithm runs its reference."""


def lerp(start: Array, end: Array, weight: float) -> Array:
    """torch.lerp(start, end, weight) of float32 arrays, as torch's vectorized CPU kernel
    computes it: one fused multiply-add, fma(weight, end - start, start) for |weight| < 0.5
    and fma(weight - 1, end - start, end) otherwise (NumPy has no fma: the product of two
    float32 values is exact in float64, so the sum is rounded once, to float64 and then to
    float32, which differs from a true fma only at a float64 tie)."""
    small = abs(weight) < 0.5
    coeff = np.float32(weight if small else np.float32(weight) - np.float32(1))
    diff = (end - start).astype(np.float64)
    base = start if small else end
    return (diff * np.float64(coeff) + base).astype(np.float32)


def l2_norm(values: Array) -> float:
    """The L2 norm of a float32 array, summed in float64 and rounded to float32, as a Python
    float (torch's `.norm().item()` and optax's per-tensor norms are used as scalars)."""
    return float(np.float32(np.sqrt(np.sum(np.square(values, dtype=np.float64)))))
