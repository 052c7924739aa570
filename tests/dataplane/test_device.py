"""`lrctl serve --device`: chosen once at start; cuda without a usable GPU is refused with the
reason, auto logs its choice and why."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from tests.support.gpu import gpu_problem
from tests.support.server_process import ServerProcess


def test_cuda_without_a_gpu_is_refused_at_start_with_the_reason(tmp_path: pathlib.Path) -> None:
    problem = gpu_problem()
    if problem is None:
        pytest.skip("this machine has a GPU that CuPy sees")
    result = subprocess.run([sys.executable, "-m", "lrctl.cli.main", "serve", "--device", "cuda", "--listen",
                             "127.0.0.1:0", "--metrics-port", "0", "--data-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"lrctl serve: device: cuda is not usable here: {problem}" in result.stderr


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_the_backend_is_chosen_and_logged(tmp_path: pathlib.Path, device: str) -> None:
    problem = gpu_problem()
    server = ServerProcess(tmp_path, ["--device", device]).start()
    try:
        if device == "auto" and problem is None:
            assert any("optimizer backend: CuPy on GPU" in line for line in server.output)
        else:
            assert any("optimizer backend: NumPy on CPU" in line for line in server.output)
        if device == "auto" and problem is not None:
            assert any(f"no GPU backend: {problem}" in line for line in server.output)
    finally:
        server.kill()
