"""Shared fixtures: a real server process per test module, a client on it, and the g++
build of the CUDA kernels for running them on the CPU (tests/backends/cuda_emulator.py)."""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
from typing import Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import lrctl  # noqa: E402
from tests.backends import cuda_emulator  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("data")).start()
    yield process
    process.kill()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[lrctl.Client]:
    with lrctl.Client(server.address) as c:
        yield c


@pytest.fixture(scope="session")
def cuda_library(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """cuda_kernels.cu built by g++ with the CUDA built-ins shimmed, once per session."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not found: cuda_kernels.cu cannot be built for CPU emulation")
    try:
        return cuda_emulator.build(tmp_path_factory.mktemp("cuda-emulator"))
    except subprocess.CalledProcessError as error:
        pytest.fail(f"g++ build of cuda_kernels.cu failed:\n{error.stderr}")
