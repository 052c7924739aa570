"""`lrctl serve --device`: chosen once at start; cuda is refused with the reason, auto logs its choice."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from tests.support.server_process import ServerProcess


def test_cuda_is_refused_at_start_with_a_clear_message(tmp_path: pathlib.Path) -> None:
    result = subprocess.run([sys.executable, "-m", "lrctl.cli.main", "serve", "--device", "cuda", "--listen",
                             "127.0.0.1:0", "--metrics-port", "0", "--data-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "lrctl serve: device: the CuPy (cuda) backend is not implemented yet" in result.stderr


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_cpu_backend_is_chosen_and_logged(tmp_path: pathlib.Path, device: str) -> None:
    server = ServerProcess(tmp_path, ["--device", device]).start()
    try:
        assert any("optimizer backend: NumPy on CPU" in line for line in server.output)
    finally:
        server.kill()
