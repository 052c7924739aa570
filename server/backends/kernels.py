"""The contract every array backend implements: a gradient measure and fused step kernels by name.

A step kernel makes one optimizer step over flat float32 buffers, in place. The gradient
arrives raw: the buffer is cut into segments (`bounds`, S + 1 offsets) and each segment's
gradient is multiplied by `scales[s]` (the clip-by-norm factor, 1.0 when there is none) and
clamped to `[-clip, clip]` (inf when there is no clipvalue) inside the kernel, so clipping
costs no extra pass. Scalars arrive as float32, already derived from the step (bias
corrections, decayed LR) the way torch.optim derives them, so every backend computes the
same float32 expression per element. A slot an option does not use (no momentum, no
amsgrad) is an empty array.

Which kernels exist is the backend's business: each optimizer algorithm (optim/algorithms)
names its kernel and carries its NumPy reference, which takes exactly the kernel's
arguments and runs wherever a backend has no fused kernel of that name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

Array = Any
"""A NumPy or CuPy ndarray."""

Kernel = Callable[..., None]
"""One in-place optimizer step over flat buffers, with its algorithm's `reference` arguments."""


@dataclass(frozen=True)
class Kernels:
    """One backend's implementation of the optimizer math.

    segment_sumsq(g, bounds) -> NumPy float64[S] on the host: each segment's sum of squares,
        accumulated in float64 so it is finite exactly when every element is (the non-finite
        check and the clip norms share this one read of the gradient).
    fused: step kernels by name (an algorithm's `kernel`), e.g. "adam".
    """

    name: str
    segment_sumsq: Callable[..., np.ndarray]
    fused: Mapping[str, Kernel] = field(default_factory=dict)

    def step_kernel(self, name: str, reference: Kernel) -> Kernel:
        """The fused kernel called `name`, or `reference` (the algorithm's NumPy update, which
        runs on either array module) when this backend has none."""
        return self.fused.get(name, reference)
