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
