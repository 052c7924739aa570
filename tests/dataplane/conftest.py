"""The data-plane tests run against every backend this machine can run: the CPU, the CUDA
kernels emulated on the CPU (tests/backends/emulated_server.py; needs g++), and a real GPU
when CuPy sees one (skipped otherwise)."""
from __future__ import annotations

import pathlib
from typing import Iterator

import pytest

from tests.backends import emulated_server
from tests.support.gpu import gpu_problem
from tests.support.server_process import ServerProcess

BACKENDS = ("cpu", "cuda-emulated", "cuda")


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("data")
    if request.param == "cuda-emulated":
        library: pathlib.Path = request.getfixturevalue("cuda_library")
        process = ServerProcess(data_dir, env={"LRCTL_CUDA_EMULATOR_LIBRARY": str(library)},
                                module="tests.backends.emulated_server").start()
        assert any(emulated_server.MARKER in line for line in process.output), "".join(process.output)
    else:
        if request.param == "cuda" and gpu_problem() is not None:
            pytest.skip(f"no GPU backend here: {gpu_problem()}")
        process = ServerProcess(data_dir, ["--device", request.param]).start()
    yield process
    process.kill()
