"""One step of any registered algorithm: its own scalar bookkeeping, then the backend's kernel.

The algorithm derives torch's scalars (algorithms/); the backend decides whether it runs a
fused kernel of the algorithm's `kernel` name or, having none, the algorithm's NumPy
reference on the same arrays.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from lrctl.server.backends.kernels import Array, Kernels
from lrctl.server.optim.algorithms import ALGORITHMS, Algorithm


def apply(algorithm: Algorithm, kernels: Kernels, params: Array, grads: Array, slots: Mapping[str, Array],
          bounds: np.ndarray, scales: np.ndarray, clip: np.float32, lr: float, step: int) -> None:
    """Update `params` and `slots` in place for step number `step` (1-based) at learning rate
    `lr`; TypeError for anything but a registered algorithm."""
    ALGORITHMS.name_of(algorithm)
    kernel = kernels.step_kernel(algorithm.kernel, algorithm.reference)
    algorithm.apply(kernel, params, grads, slots, bounds, scales, clip, lr, step)
