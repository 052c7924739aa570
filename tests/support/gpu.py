"""Whether this machine runs the CUDA backend: the tests that need a GPU skip with the reason."""
from __future__ import annotations

import functools

from lrctl.server.backends import cuda_backend


@functools.cache
def gpu_problem() -> str | None:
    """Why this machine has no CUDA backend (CuPy missing, no GPU), or None when it has one."""
    try:
        cuda_backend()
    except RuntimeError as error:
        return str(error)
    return None
