"""One job's data-plane arrays: layout, float32 parameters, gradient scratch, optimizer state.

`next_step` is the exactly-once counter (DESIGN §2): the step the server applies next. It
advances on every step it handles, applied or skipped for a non-finite gradient, while the
optimizer's own step count (bias corrections) advances only on applied steps, as in torch.
Exported as archive arrays plus JSON metadata, so snapshots and export files share it.
The buffers live in the backend's memory; `host_grads` is where a step's gradient chunks are
decoded (the gradient buffer itself on the CPU, a pinned host mirror of it on a GPU).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lrctl.server import optim
from lrctl.server.backends import Backend
from lrctl.server.backends.kernels import Array
from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.validation import MAX_STEP

FORMAT = "lrctl.job-arrays/1"
PARAMS = "params"
SLOT_PREFIX = "state."


@dataclass
class JobArrays:
    """Mutable; guarded by the owning job's lock."""

    layout: optim.Layout
    params: Array
    grads: Array
    host_grads: np.ndarray
    state: optim.OptimizerState
    next_step: int = 0
    last_skipped: bool = False

    @staticmethod
    def fresh(config: optim.OptimizerConfig, layout: optim.Layout, params: np.ndarray,
              backend: Backend) -> "JobArrays":
        grads = backend.xp.empty(layout.size, dtype=np.float32)
        return JobArrays(layout, backend.memory.to_device(np.asarray(params, dtype=np.float32)), grads,
                         backend.memory.host_buffer(grads), optim.init(config, layout, backend.xp))

    @property
    def nbytes(self) -> int:
        return self.params.nbytes + self.grads.nbytes + sum(slot.nbytes for slot in self.state.slots.values())

    @staticmethod
    def archived_elements(arrays: dict[str, np.ndarray]) -> int:
        """The parameter count of `to_archive`'s arrays (0 without parameters), known before
        anything is copied."""
        params = arrays.get(PARAMS)
        return 0 if params is None else int(params.size)

    def to_archive(self, backend: Backend) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, metadata) of everything but the gradient scratch; the arrays are on the host
        (live views on the CPU backend, so write them under the job's lock)."""
        arrays = {PARAMS: self.params, **{SLOT_PREFIX + name: slot for name, slot in self.state.slots.items()}}
        arrays = {name: backend.memory.to_host(array) for name, array in arrays.items()}
        meta = {"format": FORMAT, "layout": self.layout.state_dict(), "next_step": self.next_step,
                "last_skipped": self.last_skipped, "optimizer_step": self.state.step,
                "skipped_nonfinite": self.state.skipped_nonfinite}
        return arrays, meta

    @staticmethod
    def from_archive(config: optim.OptimizerConfig, arrays: dict[str, np.ndarray], meta: dict[str, Any],
                     backend: Backend) -> "JobArrays":
        """Restores `to_archive`'s output for a job with optimizer `config`; InvalidArgument if it
        does not fit (another format, layout, size or optimizer)."""
        if meta.get("format") != FORMAT:
            raise InvalidArgument(FieldViolation("file.meta.format", f"must be {FORMAT!r}"))
        layout = _layout(meta.get("layout"))
        next_step, step, skipped = (_counter(meta, name) for name in ("next_step", "optimizer_step",
                                                                      "skipped_nonfinite"))
        if step + skipped != next_step:
            raise InvalidArgument(FieldViolation("file.meta.next_step", f"{next_step} is not the {step} steps applied "
                                                                        f"plus the {skipped} skipped"))
        last_skipped = meta.get("last_skipped")
        if not isinstance(last_skipped, bool):
            raise InvalidArgument(FieldViolation("file.meta.last_skipped", "must be true or false"))
        counters = {"step": step, "skipped_nonfinite": skipped}
        params = arrays.get(PARAMS)
        if params is None or params.shape != (layout.size,):
            raise InvalidArgument(FieldViolation("file.params", f"must hold the layout's {layout.size} elements"))
        slots = {name[len(SLOT_PREFIX):]: array for name, array in arrays.items() if name.startswith(SLOT_PREFIX)}
        state = optim.OptimizerState.from_state_dict(config, {**slots, **counters}, layout, backend.xp)
        grads = backend.xp.empty(layout.size, dtype=np.float32)
        return JobArrays(layout, backend.memory.to_device(np.array(params, dtype=np.float32)), grads,
                         backend.memory.host_buffer(grads), state, next_step, last_skipped)


def _counter(meta: dict[str, Any], name: str) -> int:
    """A step counter of the metadata: an integer in [0, 2^63 - 1], as the API's steps are."""
    value = meta.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_STEP:
        raise InvalidArgument(FieldViolation(f"file.meta.{name}", f"must be an integer in [0, 2^63 - 1], got {value!r}"))
    return value


def _layout(state: Any) -> optim.Layout:
    """The metadata's layout: tensor names (as a job's upload names them) and their shapes."""
    field = "file.meta.layout"
    if not isinstance(state, dict) or not isinstance(state.get("names"), list) or \
            not isinstance(state.get("shapes"), list) or len(state["names"]) != len(state["shapes"]):
        raise InvalidArgument(FieldViolation(field, "must hold as many tensor names as shapes"))
    for index, (name, shape) in enumerate(zip(state["names"], state["shapes"])):
        if not isinstance(name, str) or not name:
            raise InvalidArgument(FieldViolation(f"{field}.names[{index}]", "must be a non-empty string"))
        if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_STEP
                                                  for n in shape):
            raise InvalidArgument(FieldViolation(f"{field}.shapes[{index}]", "must be a list of sizes >= 0"))
    try:
        return optim.Layout.from_state_dict(state)
    except (InvalidArgument, ValueError, TypeError) as error:
        raise InvalidArgument(FieldViolation(field, str(error))) from None
