"""What happens to a gradient before the algorithm sees it: Keras's options, as numbers.

Each function turns the options plus measured sums of squares into the scalars the kernels
take (per-segment scale, clamp, decayed LR), so clipping is fused into the update pass
instead of rewriting the gradient buffer. Clip-by-norm follows Keras: g * c / max(norm, c).
"""
from __future__ import annotations

import math

import numpy as np

from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.optim.configs import GradientOptions
from lrctl.server.optim.state import OptimizerState
from lrctl.server.validation import is_real


def checked_lr(lr: float) -> float:
    """The step's learning rate, refused unless finite and non-negative."""
    if not (is_real(lr) and lr >= 0):
        raise InvalidArgument(FieldViolation("lr", f"Invalid learning rate: {lr!r} (must be >= 0)"))
    return float(lr)


def decayed_lr(options: GradientOptions, lr: float, iterations: int) -> float:
    """Keras legacy time-based decay: lr / (1 + decay * iterations), iterations applied so far."""
    return lr / (1.0 + options.decay * iterations) if options.decay else lr


def clip_scales(options: GradientOptions, sumsq: np.ndarray) -> np.ndarray:
    """float32 gradient multiplier per measured segment (all 1.0 unless clipping by norm)."""
    if options.clipnorm is not None:
        norms, limit = np.sqrt(sumsq), options.clipnorm
    elif options.global_clipnorm is not None:
        norms, limit = np.full_like(sumsq, math.sqrt(float(np.sum(sumsq)))), options.global_clipnorm
    else:
        return np.ones(len(sumsq), dtype=np.float32)
    return (limit / np.maximum(norms, limit)).astype(np.float32)


def clip_value(options: GradientOptions) -> np.float32:
    """The elementwise clamp bound; infinity (a no-op clamp) when clipvalue is unset."""
    return np.float32(np.inf if options.clipvalue is None else options.clipvalue)


def nonfinite(options: GradientOptions, state: OptimizerState) -> OptimizerState:
    """The outcome of a step whose gradient holds a NaN or an infinity: nothing is written."""
    if options.on_nonfinite == "reject":
        raise InvalidArgument(FieldViolation(
            "grads", "gradient contains NaN or infinity; step refused, nothing applied"))
    return state.skipped()
