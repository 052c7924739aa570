"""Without credentials the server serves loopback only, and says so; --allow-unauthenticated
is the one way to serve other hosts without them."""
from __future__ import annotations

import lrctl
from tests.support.server_process import ServerProcess


def _serve_everywhere(tmp_path, *flags: str) -> ServerProcess:
    return ServerProcess(tmp_path / "data", ["--listen", "0.0.0.0:0", *flags]).start()


def test_without_credentials_a_wildcard_listen_becomes_loopback(tmp_path):
    server = _serve_everywhere(tmp_path)
    try:
        assert server.address.startswith("127.0.0.1:")
        log = "".join(server.output)
        assert "loopback only" in log and "--allow-unauthenticated" in log and "0.0.0.0:0" in log
        with lrctl.Client(server.address) as client:
            assert client.echo(b"ok") == b"ok"
    finally:
        server.kill()


def test_allow_unauthenticated_serves_the_wildcard_address(tmp_path):
    server = _serve_everywhere(tmp_path, "--allow-unauthenticated")
    try:
        assert server.address.startswith("0.0.0.0:")
        assert any("--allow-unauthenticated" in line and "WARNING" in line for line in server.output)
        with lrctl.Client("127.0.0.1:" + server.address.rsplit(":", 1)[1]) as client:
            assert client.echo(b"ok") == b"ok"
    finally:
        server.kill()
