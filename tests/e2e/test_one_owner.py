"""One server per data directory and per port: a second `lrctl serve` on either exits 1 with one
line naming what is taken, and the first goes on serving. Two real processes each."""
from __future__ import annotations

import pathlib
import socket
import subprocess
import sys

import pytest

import lrctl
from tests.support.server_process import ServerProcess


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    """`lrctl serve ARGS` to completion (it fails before serving, or the test kills it)."""
    return subprocess.run([sys.executable, "-m", "lrctl.cli.main", "serve", *args], capture_output=True, text=True,
                          timeout=60)


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture
def first(tmp_path: pathlib.Path):
    server = ServerProcess(tmp_path / "first").start()
    yield server
    server.kill()


def test_a_second_server_on_the_same_data_dir_exits_naming_the_owner(first: ServerProcess) -> None:
    result = serve("--listen", "127.0.0.1:0", "--metrics-port", "0", "--data-dir", str(first.data_dir))
    assert result.returncode == 1
    assert last_line(result) == (f"lrctl serve: data dir {first.data_dir} is in use by pid {first.process.pid}: one "
                                 "server per data directory (stop it, or give this one another --data-dir)")
    with lrctl.Client(first.address) as client:
        assert client.echo(b"still serving") == b"still serving"


def test_a_second_server_on_the_same_port_exits_naming_it(first: ServerProcess, tmp_path: pathlib.Path) -> None:
    result = serve("--listen", first.address, "--metrics-port", "0", "--data-dir", str(tmp_path / "second"))
    assert result.returncode == 1
    assert last_line(result) == (f"lrctl serve: cannot listen on {first.address}: the port is in use (is another "
                                 "lrctl serve running?) (--listen)")
    with lrctl.Client(first.address) as client:
        assert client.echo(b"still serving") == b"still serving"


def test_a_taken_metrics_port_names_the_flag(first: ServerProcess, tmp_path: pathlib.Path) -> None:
    port = first.metrics_url.rsplit(":", 1)[1].split("/")[0]
    result = serve("--listen", "127.0.0.1:0", "--metrics-port", port, "--data-dir", str(tmp_path / "second"))
    assert result.returncode == 1
    assert last_line(result) == (f"lrctl serve: cannot serve metrics on port {port}: the port is in use (is another "
                                 "lrctl serve running?) (--metrics-port)")


def test_a_port_taken_by_another_program_is_named_too(tmp_path: pathlib.Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        address = "127.0.0.1:%d" % other.getsockname()[1]
        result = serve("--listen", address, "--metrics-port", "0", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1 and f"cannot listen on {address}: the port is in use" in last_line(result)


@pytest.mark.parametrize("listen", ["localhost", "50051", "127.0.0.1:", "host:port"])
def test_a_listen_address_without_a_port_is_a_usage_error(tmp_path: pathlib.Path, listen: str) -> None:
    result = serve("--listen", listen, "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    assert last_line(result) == (f"lrctl serve: --listen: must be HOST:PORT, e.g. 127.0.0.1:50051, 0.0.0.0:50051 or "
                                 f"[::]:50051, got {listen!r}")
    assert not (tmp_path / "data").exists(), "refused before anything was created"


def test_the_lock_goes_with_a_killed_server(first: ServerProcess) -> None:
    first.kill()
    again = ServerProcess(first.data_dir).start()
    try:
        with lrctl.Client(again.address) as client:
            assert client.echo(b"after SIGKILL") == b"after SIGKILL"
    finally:
        again.kill()
