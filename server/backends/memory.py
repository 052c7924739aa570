"""Where a backend's arrays live, and the moves between there and the host (DESIGN §4).

The data plane decodes wire bytes and encodes replies on the host, and the kernels run
wherever the job's buffers are. On the CPU the two are the same memory and every move below
is free (no copy); on a GPU each is one transfer, staged through pinned host memory for the
gradients a step streams in.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from lrctl.server.backends.kernels import Array


class Device(Protocol):
    """Allocation on a backend's memory and the moves between it and the host."""

    array_type: type

    def to_device(self, a: np.ndarray) -> Array:
        """`a`'s values in this memory (`a` itself when this memory is the host's)."""
        ...

    def zeros(self, n: int, dtype: type) -> Array: ...

    def to_host(self, a: Array) -> np.ndarray:
        """`a`'s values on the host (`a` itself when it is already there)."""
        ...

    def host_buffer(self, a: Array) -> np.ndarray:
        """A host array of `a`'s size that incoming data is decoded into before `copy_in`
        (`a` itself when it is already on the host)."""
        ...

    def copy_in(self, a: Array, host: np.ndarray) -> None:
        """Copies `host` (from `host_buffer(a)`) into `a`; nothing when they are the same."""
        ...


class HostMemory:
    """The CPU backend's memory: NumPy arrays, so every move is the array itself."""

    array_type = np.ndarray

    def to_device(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a)

    def zeros(self, n: int, dtype: type) -> np.ndarray:
        return np.zeros(n, dtype)

    def to_host(self, a: np.ndarray) -> np.ndarray:
        return a

    def host_buffer(self, a: np.ndarray) -> np.ndarray:
        return a

    def copy_in(self, a: np.ndarray, host: np.ndarray) -> None:
        if host is not a:
            a[...] = host


def host_copy(device: Device, a: Array) -> np.ndarray:
    """A private host copy of `a` (a reply's consistent picture): the transfer itself from a
    GPU, one memcpy on the host."""
    host = device.to_host(a)
    return host.copy() if host is a else host
