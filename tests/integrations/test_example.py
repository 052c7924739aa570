"""examples/train_mlp.py end to end: torch's schedulers and lrctl's must train the same model identically."""
from __future__ import annotations

import pathlib
import subprocess
import sys

from tests.support.server_process import ServerProcess

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "train_mlp.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_example(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=120)


def test_example_matches_torch_against_the_test_server(server: ServerProcess, tmp_path: pathlib.Path) -> None:
    plot = tmp_path / "mlp.png"
    result = run_example("--server", server.address, "--plot", str(plot))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warmup + restarts: LRs match (rtol 1e-12), losses match" in result.stdout
    assert "plateau: LRs match (rtol 1e-12), losses match" in result.stdout
    assert "server-side optimizer: LRs match (rtol 1e-12), losses match" in result.stdout
    assert "(optimizer on the server)" in result.stdout
    assert plot.read_bytes().startswith(PNG_SIGNATURE)


def test_example_starts_its_own_server(tmp_path: pathlib.Path) -> None:
    result = run_example("--embedded", "--epochs", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: every scenario's LR sequence and losses match torch" in result.stdout
