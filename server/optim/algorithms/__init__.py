"""Every optimizer algorithm, one module each, registered under its member name in
OptimizerSpec's `algorithm` oneof (protos/lrctl/v1/optimizer.proto), as torch.optim has one
class per algorithm.

An algorithm is a frozen dataclass of torch's arguments (names, defaults and validation
messages as torch's; the learning rate comes from the job's policy) that also says what the
data plane needs to run it: its state slots, one step's scalar bookkeeping, and its NumPy
reference update. Its fused kernels, where a backend has them, are found by the name in
`kernel`; without one the reference runs on that backend's arrays. Adding an algorithm is
its module here and its proto message (and optionally kernels named after it).

Most algorithms are elementwise (`Algorithm`): one fused pass over any stretch of the flat
buffers (LAMB's kernel makes three over each tensor, for its trust ratio: `per_tensor`). A
few need each tensor whole, with its shape: a matrix product (Muon's Newton-Schulz
iteration) or row and column means (Adafactor's factored second moment, which has a fused
kernel for matrices). Those are `TensorAlgorithm`s, stepped one tensor at a time through
`apply_tensor`, with slots that may be shaped per tensor unlike the parameter.
"""
from __future__ import annotations

from typing import ClassVar, Mapping, Protocol, runtime_checkable

import numpy as np

from lrctl.server.backends import Backend
from lrctl.server.backends.kernels import Array, Kernel
from lrctl.server.oneof_registry import OneofRegistry, import_modules


class Algorithm(Protocol):
    """What every registered algorithm class provides besides its config fields."""

    kernel: ClassVar[str]
    """The name of its fused kernel in a backend's `Kernels.fused`."""

    sparse_rows: ClassVar[bool]
    """Whether a step may carry rows of a 2-D tensor (a lazy update of those rows only).
    True where the reference has a sparse form (torch's sparse SGD and Adagrad, SparseAdam)
    and for the algorithms lrctl already served rows with (RMSprop, AdamW); an algorithm
    without one refuses rows, naming itself."""

    maximize: bool
    """torch's `maximize`: step along the gradient instead of against it. A dataclass field
    where torch has the option; an algorithm whose reference has none (optax's Lion) declares
    `maximize: ClassVar[bool] = False`, so every algorithm answers and update.py reads it
    without a default. No kernel sees it: torch's single-tensor code negates the gradient
    before anything else, and update.py negates the gradient scales instead (optim/update.py)."""

    per_tensor: ClassVar[bool]
    """Optional, False when absent: True for an algorithm whose kernel reads each segment as
    one whole tensor (LAMB's per-tensor trust ratio), so steps cut runs per tensor."""

    def slots(self) -> Mapping[str, float]:
        """Its state slots, in torch's names, each with the value a fresh slot is filled
        with; options that need no slot add none."""
        ...

    def apply(self, kernel: Kernel, params: Array, grads: Array, slots: Mapping[str, Array], bounds: np.ndarray,
              scales: np.ndarray, clip: np.float32, lr: float, step: int) -> None:
        """One step (`step` 1-based) at `lr`: torch's scalars, derived in double precision as
        torch.optim's single-tensor code derives them, passed to `kernel` as float32."""
        ...

    @staticmethod
    def reference(*args: object) -> None:
        """The NumPy update: torch.optim's single-tensor equations, op for op, taking exactly
        the arguments of the fused kernel."""
        ...


@runtime_checkable
class TensorAlgorithm(Protocol):
    """What a whole-tensor algorithm provides besides its config fields. Its step gets the
    whole backend: array operations on its array module (NumPy or CuPy), and any kernel the
    algorithm looks up by name (Adafactor's, for matrices) with a reference beside it."""

    sparse_rows: ClassVar[bool]
    """False: a whole-tensor update has no lazy form over some rows."""

    maximize: bool
    """As `Algorithm.maximize`; update.py negates the gradient it passes to `apply_tensor`."""

    def slots(self) -> Mapping[str, float]:
        """As `Algorithm.slots`: every slot a tensor of any shape may keep, with its fill value."""
        ...

    def slot_shapes(self, shape: tuple[int, ...]) -> Mapping[str, tuple[int, ...]]:
        """The shape of each slot for a parameter of `shape` ((0,) where a tensor keeps no such
        slot, as torch's Adafactor keeps `variance` for vectors and row and column factors for
        matrices); InvalidArgument for a shape the algorithm cannot step (Muon's non-matrices),
        so a job is refused at upload."""
        ...

    def apply_tensor(self, backend: Backend, param: Array, grad: Array, slots: Mapping[str, Array], lr: float,
                     step: int) -> None:
        """One step (`step` 1-based) of one tensor at `lr`, in place: `param` and each slot
        are views in their shapes; `grad` is the gradient as the algorithm sees it (clipped,
        negated under maximize), a temporary it may overwrite."""
        ...


ALGORITHMS = OneofRegistry("OptimizerSpec.algorithm")
"""Algorithm classes by oneof member name ("adam": Adam)."""

import_modules(__name__, __path__)
