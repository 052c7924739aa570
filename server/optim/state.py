"""A job's optimizer state: one flat float32 buffer per slot, the step count, the skip count.

Which slots there are, and what a fresh one holds, is the algorithm's (its `slots()`, in
torch.optim's per-parameter names: exp_avg, momentum_buffer, sum, ...); each is laid out
like the parameters, so `Layout.view(state.slots["exp_avg"], name)` is that tensor's torch
state, except where a whole-tensor algorithm shapes a slot per tensor (Adafactor's row and
column factors): that slot has a layout of its own, `slot_layouts(...)[slot]`, with the same
tensor names, and is never larger than the parameters.
The state exports to a flat dict of arrays and integers (snapshot-friendly, no pickle) and
restores only into the same optimizer shape, so a snapshot cannot be loaded into a job
whose optimizer would read it differently.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np

from lrctl.server.backends.kernels import Array
from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.optim.algorithms import Algorithm, TensorAlgorithm
from lrctl.server.optim.configs import OptimizerConfig
from lrctl.server.optim.layout import Layout

COUNTERS = ("step", "skipped_nonfinite")


def slot_names(algorithm: Algorithm) -> tuple[str, ...]:
    """The state slots `algorithm` keeps, in torch's names; options that need none add none."""
    return tuple(algorithm.slots())


def slot_layouts(algorithm: Algorithm | TensorAlgorithm, layout: Layout | int) -> dict[str, Layout]:
    """Each slot's layout for parameters laid out as `layout` (a bare element count is one flat
    tensor): the parameters' own, unless the algorithm shapes its slots per tensor."""
    layout = layout if isinstance(layout, Layout) else Layout.flat(layout)
    if not isinstance(algorithm, TensorAlgorithm):
        return {name: layout for name in slot_names(algorithm)}
    shapes, bad = {}, []
    for span in layout.spans:
        try:
            shapes[span.name] = algorithm.slot_shapes(span.shape)
        except InvalidArgument as error:
            bad += error.under(f"shapes[{span.name}]").violations
    if bad:
        raise InvalidArgument(bad)
    return {name: Layout.of({tensor: slot[name] for tensor, slot in shapes.items()}) for name in slot_names(algorithm)}


def slot_sizes(algorithm: Algorithm | TensorAlgorithm, layout: Layout | int) -> dict[str, int]:
    """Each slot's element count (`slot_layouts`' sizes)."""
    return {name: slot.size for name, slot in slot_layouts(algorithm, layout).items()}


def _is_count(value: object) -> bool:
    """A non-negative integer, as a Python int or the 0-d array a snapshot file returns."""
    array = np.asarray(value)
    return array.ndim == 0 and array.dtype.kind in "iu" and int(array) >= 0


@dataclass(frozen=True)
class OptimizerState:
    """Slot buffers (mutated in place by each step) plus the counters a step replaces.

    `step` counts applied steps (torch's state["step"]); `skipped_nonfinite` counts steps
    dropped for a NaN or infinite gradient, which do not advance `step`.
    """

    slots: Mapping[str, Array]
    step: int = 0
    skipped_nonfinite: int = 0

    def advanced(self) -> "OptimizerState":
        return replace(self, step=self.step + 1)

    def skipped(self) -> "OptimizerState":
        return replace(self, skipped_nonfinite=self.skipped_nonfinite + 1)

    def state_dict(self) -> dict[str, object]:
        """Slot arrays by name plus the counters; the arrays are the live buffers, not copies."""
        return {**self.slots, "step": self.step, "skipped_nonfinite": self.skipped_nonfinite}

    @staticmethod
    def from_state_dict(config: OptimizerConfig, state: Mapping[str, object], layout: Layout | int,
                        xp=np) -> "OptimizerState":
        """Restore a state exported by `state_dict` for the same optimizer and layout (or
        element count), copied."""
        expected = set(slot_names(config.algorithm)) | set(COUNTERS)
        bad = [FieldViolation(f"state.{k}", "missing") for k in sorted(expected - state.keys())]
        bad += [FieldViolation(f"state.{k}", "not a slot of this optimizer") for k in sorted(state.keys() - expected)]
        for name in COUNTERS:
            if name in state and not _is_count(state[name]):
                bad.append(FieldViolation(f"state.{name}", f"Invalid {name} value: {state[name]!r} (must be >= 0)"))
        sizes = slot_sizes(config.algorithm, layout)
        for name in sorted(sizes.keys() & state.keys()):
            if np.shape(state[name]) != (sizes[name],):
                bad.append(FieldViolation(f"state.{name}",
                                          f"shape {np.shape(state[name])} does not match {sizes[name]} elements"))
        if bad:
            raise InvalidArgument(bad)
        slots = {name: xp.array(state[name], dtype=xp.float32) for name in slot_names(config.algorithm)}
        return OptimizerState(slots, int(state["step"]), int(state["skipped_nonfinite"]))


def init(config: OptimizerConfig, layout: Layout | int, xp=np) -> OptimizerState:
    """Fresh state for parameters laid out as `layout` (or that many elements, one flat
    tensor): each slot filled with the algorithm's initial value for it (zero, but Adagrad's
    sum starts at initial_accumulator_value). InvalidArgument for a tensor shape the
    algorithm cannot step."""
    sizes = slot_sizes(config.algorithm, layout)
    return OptimizerState({name: xp.full(sizes[name], fill, dtype=xp.float32)
                           for name, fill in config.algorithm.slots().items()})
