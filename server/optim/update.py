"""A whole optimizer step over a job's flat buffers: optax's `update`, applied in place.

The order is fixed and is what makes a refused step change nothing: validate, measure the
gradient (one read, giving both the non-finite verdict and the clip norms), decide
skip/refuse, and only then run the fused kernel that writes parameters and state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from lrctl.server.backends import Backend
from lrctl.server.backends.kernels import Array
from lrctl.server.backends.numpy_reference import clipped_gradient
from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.optim import gradient, steps
from lrctl.server.optim.algorithms import ALGORITHMS, Algorithm, TensorAlgorithm
from lrctl.server.optim.configs import OptimizerConfig
from lrctl.server.optim.layout import Layout, TensorSpan
from lrctl.server.optim.rows import RowGradient, coalesced
from lrctl.server.optim.state import OptimizerState, slot_layouts


def _checked_slot_layouts(params: Array, grads: Array | None, state: OptimizerState, algorithm: Algorithm,
                          layout: Layout | None) -> dict[str, Layout]:
    """Each slot's layout (`slot_layouts`), once every buffer is checked: refuses anything but
    flat contiguous float32 buffers of the parameters' length (each slot of its own layout's
    length), and a layout that does not fit them."""
    n = params.shape[0] if params.ndim == 1 else -1
    fits = layout is None or layout.size == n
    slots = slot_layouts(algorithm, layout if fits and layout is not None else max(n, 0))
    buffers = {"params": (params, n), **({} if grads is None else {"grads": (grads, n)}),
               **{f"state.{name}": (slot, slots[name].size if name in slots else -1)
                  for name, slot in state.slots.items()}}
    bad = [FieldViolation(name, f"must be a flat float32 buffer of {size} elements, got {a.dtype} {a.shape}")
           for name, (a, size) in buffers.items()
           if a.dtype != np.float32 or a.shape != (size,) or not a.flags.c_contiguous]
    if not fits:
        bad.append(FieldViolation("layout", f"describes {layout.size} elements, buffers hold {n}"))
    if bad:
        raise InvalidArgument(bad)
    return slots


@dataclass(frozen=True)
class _Run:
    """A contiguous stretch [lo, hi) of the buffers updated by one kernel launch; `bounds`
    (relative to lo) cut it into the segments clipping measures separately, which are the
    `spans` one by one when they are cut per tensor."""

    lo: int
    hi: int
    bounds: np.ndarray
    spans: tuple[TensorSpan, ...]


def _runs(layout: Layout, names: Iterable[str], per_tensor: bool) -> list[_Run]:
    """The named tensors merged into maximal runs of neighbours in the layout, so that a step
    sending every tensor densely is one launch over the whole buffer."""
    spans = sorted((layout.span(name) for name in names), key=lambda span: span.offset)
    groups: list[list[TensorSpan]] = []
    for span in spans:
        if groups and groups[-1][-1].stop == span.offset:
            groups[-1].append(span)
        else:
            groups.append([span])
    runs = []
    for group in groups:
        lo, hi = group[0].offset, group[-1].stop
        stops = [span.stop - lo for span in group] if per_tensor else [hi - lo]
        runs.append(_Run(lo, hi, np.array([0, *stops], dtype=np.int64), tuple(group)))
    return runs


def _per_tensor(config: OptimizerConfig) -> bool:
    """Whether a step cuts its runs per tensor: for clipnorm, for whole-tensor algorithms, and
    for an elementwise one whose kernel needs each segment to be a whole tensor (LAMB)."""
    return (config.gradient.clipnorm is not None or isinstance(config.algorithm, TensorAlgorithm)
            or getattr(config.algorithm, "per_tensor", False))


def _on_device(backend: Backend, gradient: RowGradient) -> RowGradient:
    """A coalesced row gradient moved to where the job's buffers are (itself on the CPU)."""
    return RowGradient(backend.memory.to_device(gradient.rows), backend.memory.to_device(gradient.values))


def _step_tensors(algorithm: TensorAlgorithm, backend: Backend, params: Array, grads: Array, state: OptimizerState,
                  slots: Mapping[str, Layout], run: _Run, scales: np.ndarray, clip: np.float32, lr: float,
                  step: int) -> None:
    """Each tensor of a run cut per tensor, whole and in its shape, with every slot's view of
    it in that slot's own layout; the gradient is clipped (and negated) into a temporary. A
    tensor of no elements has nothing to step (torch's Adafactor would divide by its size)."""
    for span, scale in zip(run.spans, scales):
        if span.size == 0:
            continue
        grad = clipped_gradient(grads[span.offset:span.stop], np.float32(scale), clip).reshape(span.shape)
        views = {name: slots[name].view(buffer, span.name) for name, buffer in state.slots.items()}
        algorithm.apply_tensor(backend, params[span.offset:span.stop].reshape(span.shape), grad, views, lr, step)


def _step(config: OptimizerConfig, params: Array, grads: Array, runs: Sequence[_Run],
          tables: Sequence[tuple[TensorSpan, RowGradient]], state: OptimizerState, lr: float, *,
          backend: Backend, layout: Layout | None, slots: Mapping[str, Layout]) -> OptimizerState:
    """Measures every part of the gradient, decides skip/refuse, then updates: each dense run
    in one fused launch, each table's coalesced rows gathered, updated and scattered back."""
    options, kernels = config.gradient, backend.kernels
    sumsq = [kernels.segment_sumsq(grads[run.lo:run.hi], run.bounds) for run in runs]
    sumsq += [kernels.segment_sumsq(g.values.reshape(-1), np.array([0, g.values.size], dtype=np.int64))
              for _, g in tables]
    measured = np.concatenate([np.zeros(0), *sumsq])
    if not np.isfinite(measured).all():
        return gradient.nonfinite(options, state)
    # maximize: torch's first op on the gradient is grad = -grad. Every kernel multiplies a
    # segment's gradient by its scale and then clamps it to the symmetric [-clip, clip], and
    # negation is exact, so a negated scale is that negation, for dense runs and rows alike.
    sign = -1 if config.algorithm.maximize else 1
    scales = np.split(sign * gradient.clip_scales(options, measured), np.cumsum([s.size for s in sumsq])[:-1])
    clip, step_lr, step = gradient.clip_value(options), gradient.decayed_lr(options, lr, state.step), state.step + 1
    tensorwise = isinstance(config.algorithm, TensorAlgorithm)
    for run, run_scales in zip(runs, scales):
        if tensorwise:
            _step_tensors(config.algorithm, backend, params, grads, state, slots, run, run_scales, clip, step_lr, step)
            continue
        part = slice(run.lo, run.hi)
        steps.apply(config.algorithm, kernels, params[part], grads[part],
                    {name: slot[part] for name, slot in state.slots.items()}, run.bounds, run_scales, clip,
                    step_lr, step)
    rows_algorithm = config.algorithm.for_rows(step) if hasattr(config.algorithm, "for_rows") else config.algorithm
    for (span, g), table_scales in zip(tables, scales[len(runs):]):
        views = {name: layout.view(buffer, span.name) for name, buffer in [("params", params), *state.slots.items()]}
        gathered = {name: view[g.rows] for name, view in views.items()}
        flat = {name: rows.reshape(-1) for name, rows in gathered.items()}
        steps.apply(rows_algorithm, kernels, flat.pop("params"), g.values.reshape(-1), flat,
                    np.array([0, g.values.size], dtype=np.int64), table_scales, clip, step_lr, step)
        for name, view in views.items():
            view[g.rows] = gathered[name]
    return state.advanced()


def update(config: OptimizerConfig, params: Array, grads: Array, state: OptimizerState, lr: float, *,
           backend: Backend, layout: Layout | None = None) -> OptimizerState:
    """Apply one step to every element; returns the next state (slot buffers updated in place).

    `layout` matters for per-tensor clipnorm and whole-tensor algorithms; without one the
    buffer is one 1-D tensor. A gradient with a NaN or infinity is refused (InvalidArgument)
    or skipped (the returned state counts it and keeps its step) per
    `config.gradient.on_nonfinite`.
    """
    lr = gradient.checked_lr(lr)
    slots = _checked_slot_layouts(params, grads, state, config.algorithm, layout)
    layout = layout or Layout.flat(params.shape[0])
    bounds = layout.bounds() if _per_tensor(config) else np.array([0, layout.size], dtype=np.int64)
    return _step(config, params, grads, [_Run(0, layout.size, bounds, layout.spans)], [], state, lr,
                 backend=backend, layout=layout, slots=slots)


def update_tensors(config: OptimizerConfig, params: Array, grads: Array | None, state: OptimizerState, lr: float, *,
                   backend: Backend, layout: Layout, dense: Iterable[str] = (),
                   rows: Mapping[str, RowGradient] | None = None) -> OptimizerState:
    """Apply one step to the tensors a request carried; every other tensor is left alone, as
    torch.optim skips a parameter whose `.grad` is None.

    `dense` names tensors whose whole gradient is in `grads` (at their layout offsets; None
    when there are none): they get the full update. `rows` holds row gradients of 2-D tensors, updated lazily like
    torch.optim.SparseAdam and sparse Adagrad: only the named rows of the parameters and of
    every slot move, with bias corrections from the job's step count, and untouched rows see
    no decay, momentum or weight decay. Clipping treats each table's coalesced rows as that
    tensor's whole gradient, and global_clipnorm measures everything the step carried.
    Refusal and skipping work as in `update`: nothing is written before every part is checked.
    """
    lr = gradient.checked_lr(lr)
    dense = list(dense)
    if dense and grads is None:
        raise InvalidArgument(FieldViolation("grads", "dense tensors need the gradient buffer"))
    slots = _checked_slot_layouts(params, grads, state, config.algorithm, layout)
    rows = rows or {}
    if rows and not config.algorithm.sparse_rows:
        name = ALGORITHMS.name_of(config.algorithm)
        raise InvalidArgument([FieldViolation(f"grads[{tensor}]", f"sent as rows, but {name} has no sparse form: "
                                              "send the tensor's whole gradient") for tensor in sorted(rows)])
    both = sorted(set(dense) & set(rows))
    if both:
        raise InvalidArgument([FieldViolation(f"grads[{name}]", "sent both dense and as rows") for name in both])
    runs = _runs(layout, dense, _per_tensor(config))
    tables = [(layout.span(name), _on_device(backend, coalesced(layout.span(name), g)))
              for name, g in rows.items()]
    return _step(config, params, params[:0] if grads is None else grads, runs, tables, state, lr,
                 backend=backend, layout=layout, slots=slots)


def update_rows(config: OptimizerConfig, params: Array, grads: Mapping[str, RowGradient], state: OptimizerState,
                lr: float, *, backend: Backend, layout: Layout) -> OptimizerState:
    """`update_tensors` for a step that carries only row gradients."""
    return update_tensors(config, params, None, state, lr, backend=backend, layout=layout, rows=grads)
