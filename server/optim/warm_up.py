"""Compiling a backend's kernels before a Step needs them (cold start).

numba compiles a kernel on its first call, or loads it from its on-disk cache, and CuPy
builds cuda_kernels.cu with NVRTC on its first launch; a fresh install can take longer than
a Step's deadline. `warm_up` runs one dense step and one row step of every registered
algorithm on a few elements, through the same `update` a Step uses, so every kernel a Step
can reach is compiled for exactly the argument types a Step passes (numba compiles one
machine-code version per type signature). A server calls it at start on a background
thread: the kernels release the GIL, and a Step that arrives meanwhile waits on numba's
compiler lock instead of compiling again.
"""
from __future__ import annotations

import numpy as np

from lrctl.server.backends import Backend
from lrctl.server.optim.algorithms import ALGORITHMS
from lrctl.server.optim.configs import OptimizerConfig
from lrctl.server.optim.layout import Layout
from lrctl.server.optim.rows import RowGradient
from lrctl.server.optim.state import init
from lrctl.server.optim.update import update, update_rows

_LAYOUT = Layout.of({"table": (3, 2)})


def warm_up(backend: Backend) -> tuple[str, ...]:
    """Runs every registered algorithm's kernels once on `backend`; returns their names."""
    rows = RowGradient(np.array([0, 2]), np.ones((2, 2), np.float32))
    for cls in ALGORITHMS.values():
        config = OptimizerConfig(cls())
        params = backend.memory.to_device(np.zeros(_LAYOUT.size, np.float32))
        grads = backend.memory.to_device(np.ones(_LAYOUT.size, np.float32))
        state = init(config, _LAYOUT, backend.xp)
        state = update(config, params, grads, state, 1e-3, backend=backend, layout=_LAYOUT)
        if cls.sparse_rows:
            update_rows(config, params, {"table": rows}, state, 1e-3, backend=backend, layout=_LAYOUT)
    return tuple(ALGORITHMS)
