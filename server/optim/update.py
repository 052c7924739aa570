"""A whole optimizer step over a job's flat buffers: optax's `update`, applied in place.

The order is fixed and is what makes a refused step change nothing: validate, measure the
gradient (one read, giving both the non-finite verdict and the clip norms), decide
skip/refuse, and only then run the fused kernel that writes parameters and state.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from lrctl.server.backends import Backend
from lrctl.server.backends.kernels import Array
from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.optim import gradient, steps
from lrctl.server.optim.configs import OptimizerConfig
from lrctl.server.optim.layout import Layout
from lrctl.server.optim.rows import RowGradient, coalesced
from lrctl.server.optim.state import OptimizerState


def _check_buffers(buffers: Mapping[str, Array], layout: Layout | None) -> None:
    """Refuse anything but same-length flat contiguous float32 buffers (and a layout that fits)."""
    params = buffers["params"]
    n = params.shape[0] if params.ndim == 1 else -1
    bad = [FieldViolation(name, f"must be a flat float32 buffer of {n} elements, got {a.dtype} {a.shape}")
           for name, a in buffers.items()
           if a.dtype != np.float32 or a.shape != (n,) or not a.flags.c_contiguous]
    if layout is not None and layout.size != n:
        bad.append(FieldViolation("layout", f"describes {layout.size} elements, buffers hold {n}"))
    if bad:
        raise InvalidArgument(bad)


def _state_buffers(state: OptimizerState) -> dict[str, Array]:
    return {f"state.{name}": slot for name, slot in state.slots.items()}


def update(config: OptimizerConfig, params: Array, grads: Array, state: OptimizerState, lr: float, *,
           backend: Backend, layout: Layout | None = None) -> OptimizerState:
    """Apply one step to every element; returns the next state (slot buffers updated in place).

    `layout` matters only for per-tensor clipnorm; without one the buffer is one tensor. A
    gradient with a NaN or infinity is refused (InvalidArgument) or skipped (the returned
    state counts it and keeps its step) per `config.gradient.on_nonfinite`.
    """
    lr = gradient.checked_lr(lr)
    _check_buffers({"params": params, "grads": grads, **_state_buffers(state)}, layout)
    options = config.gradient
    if options.clipnorm is not None and layout is not None:
        bounds = layout.bounds()
    else:
        bounds = np.array([0, params.shape[0]], dtype=np.int64)
    sumsq = backend.kernels.segment_sumsq(grads, bounds)
    if not np.isfinite(sumsq).all():
        return gradient.nonfinite(options, state)
    steps.apply(config.algorithm, backend.kernels, params, grads, state.slots, bounds,
                gradient.clip_scales(options, sumsq), gradient.clip_value(options),
                gradient.decayed_lr(options, lr, state.step), state.step + 1)
    return state.advanced()


def update_rows(config: OptimizerConfig, params: Array, grads: Mapping[str, RowGradient], state: OptimizerState,
                lr: float, *, backend: Backend, layout: Layout) -> OptimizerState:
    """Apply one step whose gradient is rows of 2-D tensors; nothing else changes (lazy update).

    Like torch.optim.SparseAdam and sparse Adagrad: only the named rows of the parameters
    and of every slot move, with bias corrections from the job's step count; untouched rows
    see no decay, momentum or weight decay. Clipping treats each table's coalesced rows as
    that tensor's whole gradient. Refusal and skipping work as in `update`.
    """
    lr = gradient.checked_lr(lr)
    _check_buffers({"params": params, **_state_buffers(state)}, layout)
    xp = backend.xp
    tables = [(layout.span(name), coalesced(layout.span(name), g, xp)) for name, g in grads.items()]
    sumsq = np.array([backend.kernels.segment_sumsq(g.values.reshape(-1), np.array([0, g.values.size]))[0]
                      for _, g in tables])
    if not np.isfinite(sumsq).all():
        return gradient.nonfinite(config.gradient, state)
    scales = gradient.clip_scales(config.gradient, sumsq)
    clip, step_lr = gradient.clip_value(config.gradient), gradient.decayed_lr(config.gradient, lr, state.step)
    for index, (span, g) in enumerate(tables):
        views = {name: layout.view(buffer, span.name) for name, buffer in [("params", params), *state.slots.items()]}
        gathered = {name: view[g.rows] for name, view in views.items()}
        flat = {name: rows.reshape(-1) for name, rows in gathered.items()}
        steps.apply(config.algorithm, backend.kernels, flat.pop("params"), g.values.reshape(-1), flat,
                    np.array([0, g.values.size], dtype=np.int64), scales[index:index + 1], clip, step_lr,
                    state.step + 1)
        for name, view in views.items():
            view[g.rows] = gathered[name]
    return state.advanced()
