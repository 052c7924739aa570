"""`lrctl serve` on the CUDA backend emulated on the CPU, for the data-plane tests.

The backend is the production one in all but two seams: the kernels are cuda_kernels.cu
built by g++ (cuda_emulator.py, the library path in LRCTL_CUDA_EMULATOR_LIBRARY) behind the
production wrappers of cupy_kernels.py, and its memory is HostDevice, whose every move is a
copy, so the data plane's GPU paths (gradients decoded into a separate host buffer and
copied in, parameters copied out for replies, snapshots and exports) run as on a GPU.
Usage: python -m tests.backends.emulated_server serve [lrctl serve options].
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np

from lrctl.cli.main import main
from lrctl.server import app
from lrctl.server.backends import Backend, cupy_kernels
from tests.backends.cuda_emulator import EmulatedLaunch

THREADS = 8
CHUNK = 256
"""Small blocks, so the tests' tensors of a few thousand elements span many of them."""

MARKER = "optimizer backend: emulated CUDA"


def emulated_backend(library: Path) -> Backend:
    launch = EmulatedLaunch(library, threads=THREADS)
    return Backend("cuda", np, cupy_kernels.kernels(launch, chunk=CHUNK, threads=THREADS), launch.device)


def _select(device: str = "auto", threads: int | None = None) -> Backend:
    backend = emulated_backend(Path(os.environ["LRCTL_CUDA_EMULATOR_LIBRARY"]))
    logging.getLogger(__name__).info("%s, %s kernels", MARKER, backend.kernels.name)
    return backend


if __name__ == "__main__":
    app.select_backend = _select
    sys.exit(main())
