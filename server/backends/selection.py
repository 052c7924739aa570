"""Choosing the one array backend a server runs on, once at start (`--device auto|cpu|cuda`).

CPU: NumPy buffers and fused numba kernels. CUDA: CuPy buffers and the fused kernels of
cuda_kernels.cu (cupy_kernels.py). "auto" takes CUDA when CuPy imports and sees a GPU, else
the CPU, and logs which and why; "cuda" without a usable GPU is refused with the reason.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from lrctl.server.backends.kernels import Kernels
from lrctl.server.backends.memory import Device, HostMemory
from lrctl.server.errors import FieldViolation, InvalidArgument

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Backend:
    """The array module every job's buffers live in, the kernels that update them, and the
    moves between those buffers and the host."""

    device: str
    xp: ModuleType
    kernels: Kernels
    memory: Device


def cpu_backend(threads: int | None = None) -> Backend:
    """NumPy buffers and fused numba kernels on `threads` threads (default: all numba's)."""
    from lrctl.server.backends import cpu_kernels  # compiles or loads kernels: only when chosen
    import numba

    kernels = cpu_kernels.threaded(numba.config.NUMBA_NUM_THREADS if threads is None else threads)
    return Backend("cpu", np, kernels, HostMemory())


def cuda_backend() -> Backend:
    """CuPy buffers on the current GPU and the fused CUDA kernels; RuntimeError saying why
    when CuPy is missing or sees no GPU."""
    try:
        import cupy
    except ImportError:
        raise RuntimeError("CuPy is not installed (pip install 'lrctl[cuda]')") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CUDARuntimeError without a driver, among others
        raise RuntimeError(f"CuPy sees no GPU ({error})") from None
    if count < 1:
        raise RuntimeError("CuPy sees no GPU")
    from lrctl.server.backends import cupy_kernels

    launch = cupy_kernels.CuPyLaunch()
    return Backend("cuda", cupy, cupy_kernels.kernels(launch), launch.device)


def select_backend(device: str = "auto", threads: int | None = None) -> Backend:
    """The backend for `device`; "cuda" without a usable GPU is refused (InvalidArgument)."""
    if device not in DEVICES:
        raise InvalidArgument(FieldViolation("device", f"Invalid device value: {device!r} (must be one of "
                                             + ", ".join(map(repr, DEVICES)) + ")"))
    if device in ("auto", "cuda"):
        try:
            backend = cuda_backend()
        except RuntimeError as error:
            if device == "cuda":
                raise InvalidArgument(FieldViolation("device", f"cuda is not usable here: {error}")) from None
            reason = str(error)
        else:
            log.info("optimizer backend: CuPy on GPU %s, %s kernels", backend.xp.cuda.Device().id,
                     backend.kernels.name)
            return backend
    backend = cpu_backend(threads)
    log.info("optimizer backend: NumPy on CPU, %s kernels%s", backend.kernels.name,
             f" (no GPU backend: {reason})" if device == "auto" else "")
    return backend
