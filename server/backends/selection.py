"""Choosing the one array backend a server runs on, once at start (`--device auto|cpu|cuda`).

Only the CPU backend exists today: NumPy buffers and fused numba kernels. The CuPy backend
(DESIGN §4: one fused ElementwiseKernel per optimizer, a scatter kernel for sparse rows,
pinned host buffers) is not written yet, so "cuda" is refused with that reason and "auto"
takes the CPU and logs why, also on a host with a GPU.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from lrctl.server.backends.kernels import Kernels
from lrctl.server.errors import FieldViolation, InvalidArgument

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
CUDA_MISSING = "the CuPy (cuda) backend is not implemented yet"


@dataclass(frozen=True)
class Backend:
    """The array module every job's buffers live in and the kernels that update them."""

    device: str
    xp: ModuleType
    kernels: Kernels


def cpu_backend(threads: int | None = None) -> Backend:
    """NumPy buffers and fused numba kernels on `threads` threads (default: all numba's)."""
    from lrctl.server.backends import cpu_kernels  # compiles or loads kernels: only when chosen
    import numba

    return Backend("cpu", np, cpu_kernels.threaded(numba.config.NUMBA_NUM_THREADS if threads is None else threads))


def select_backend(device: str = "auto", threads: int | None = None) -> Backend:
    """The backend for `device`; "cuda" is refused until the CuPy kernels exist."""
    if device not in DEVICES:
        raise InvalidArgument(FieldViolation("device", f"Invalid device value: {device!r} (must be one of "
                                             + ", ".join(map(repr, DEVICES)) + ")"))
    if device == "cuda":
        raise InvalidArgument(FieldViolation("device", CUDA_MISSING))
    backend = cpu_backend(threads)
    log.info("optimizer backend: NumPy on CPU, %s kernels%s", backend.kernels.name,
             f" ({CUDA_MISSING})" if device == "auto" else "")
    return backend
