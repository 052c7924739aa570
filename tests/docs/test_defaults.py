"""The defaults README.md's "Defaults that surprise people" states are the ones lrctl has,
checked on a real server and the SDK."""
from __future__ import annotations

import os
import pathlib
import re
import socket
import subprocess
import sys
import urllib.request

import pytest

import lrctl
from tests.support.server_process import SERVING_LINE, START_TIMEOUT

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def section() -> str:
    text = README.read_text()
    return text[text.index("### Defaults that surprise people"):text.index("## Use it from a training loop")]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_the_section_states_them() -> None:
    text = section()
    for fact in ("127.0.0.1:50051", "9108", "./lrctl-data", "relative to the directory", "`patience` is 0",
                 "exist_ok=True", "unused_metrics", "skipped_nonfinite", "until it next contacts"):
        assert fact in text, fact


def test_data_dir_is_relative_to_where_serve_starts_and_metrics_default_to_9108(tmp_path: pathlib.Path) -> None:
    args = ["--listen", "127.0.0.1:0"]
    if not port_is_free(9108):
        args += ["--metrics-port", "0"]  # another server holds 9108 on this machine; the data dir is still checked
    env = {name: value for name, value in os.environ.items() if not name.startswith("LRCTL_")}
    server = subprocess.Popen([sys.executable, "-m", "lrctl.cli.main", "serve", *args], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "metrics on" in line:
                break
        output = "".join(lines)
        assert SERVING_LINE.search(output), output
        assert (tmp_path / "lrctl-data").is_dir(), "the store is ./lrctl-data of the working directory"
        if "--metrics-port" not in args:
            assert re.search(r"metrics on http://[^:]+:9108/metrics", output), output
            with urllib.request.urlopen("http://127.0.0.1:9108/metrics", timeout=START_TIMEOUT) as reply:
                assert b"lrctl_jobs" in reply.read()
    finally:
        server.kill()
        server.wait(30)


def test_early_stopping_patience_defaults_to_zero(client: lrctl.Client) -> None:
    """The first report that does not improve stops the job (Keras' default patience)."""
    result = client.preview({"lr": 0.1, "early_stopping": {"metric": "val_loss"}}, 100,
                            {10: {"val_loss": 1.0}, 20: {"val_loss": 1.0}})
    assert result.stop_step == 20


def test_the_client_dials_lrctls_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LRCTL_SERVER", raising=False)
    with lrctl.Client() as default, lrctl.Client("127.0.0.1") as bare:
        assert default.target == bare.target == "127.0.0.1:50051"
