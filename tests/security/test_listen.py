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


def test_metrics_can_stay_on_loopback_while_grpc_serves_every_interface(tmp_path):
    import urllib.request

    server = _serve_everywhere(tmp_path, "--allow-unauthenticated", "--metrics-listen", "127.0.0.1:0")
    try:
        assert server.address.startswith("0.0.0.0:") and server.metrics_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.metrics_url, timeout=5) as reply:
            assert b"grpc_server_started_total" in reply.read()
    finally:
        server.kill()


def test_an_admin_token_file_of_comments_only_refuses_to_start(tmp_path):
    import subprocess
    import sys

    tokens = tmp_path / "tokens"
    tokens.write_text("# the token goes here\n\n   # and nothing else\n")
    result = subprocess.run([sys.executable, "-m", "lrctl.cli.main", "serve", "--listen", "127.0.0.1:0",
                             "--metrics-port", "0", "--data-dir", str(tmp_path / "data"), "--admin-token-file",
                             str(tokens)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"lrctl serve: admin_token_file: {tokens} holds no token (only blank and '#' lines): auth would be off; put "
        "a token in it")
