"""A throwaway `lrctl serve` for commands that need a server but were not given one (`demo`,
`preview`): a free loopback port, a temporary data directory, stopped on exit.

It runs as a child process because the client never imports the server (the `serve`
command comes from the server's part of the distribution through the `lrctl.cli` entry
points); without it installed, starting fails with the install line to run.
"""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
from typing import Iterator, NamedTuple

SERVING_LINE = re.compile(r"lrctl: serving on (\S+)")
METRICS_LINE = re.compile(r"lrctl: metrics on (\S+)")
STOP_SECONDS = 30
SERVER_INSTALL = "pip install 'lrctl[server]'"


class Endpoints(NamedTuple):
    address: str
    metrics_url: str


class ServerDidNotStart(RuntimeError):
    """The embedded server exited before serving; the message ends with its output."""


@contextlib.contextmanager
def embedded_server() -> Iterator[Endpoints]:
    """`lrctl serve` on a free loopback port with a temporary data directory, stopped on exit.

    LRCTL_* settings of the caller's shell (admin tokens, TLS, a config file) are meant for
    their own server, not this one, so they are left out of its environment."""
    with tempfile.TemporaryDirectory(prefix="lrctl-embedded-") as data_dir:
        process = subprocess.Popen(
            [sys.executable, "-m", "lrctl.cli.main", "serve", "--listen", "127.0.0.1:0", "--metrics-port", "0",
             "--data-dir", data_dir], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={name: value for name, value in os.environ.items() if not name.startswith("LRCTL_")})
        try:
            yield _endpoints(process)
        finally:
            process.terminate()
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _endpoints(process: subprocess.Popen[str]) -> Endpoints:
    """Reads the server's address and metrics URL from its first lines, then drains the rest
    in the background so a chatty server never blocks on a full pipe."""
    assert process.stdout is not None
    seen: list[str] = []
    address = metrics_url = ""
    for line in process.stdout:
        seen.append(line)
        if match := SERVING_LINE.search(line):
            address = match.group(1)
        if match := METRICS_LINE.search(line):
            metrics_url = match.group(1)
        if address and metrics_url:
            break
    else:
        output = "".join(seen).strip()
        missing = "invalid choice: 'serve'" in output or "No module named" in output
        raise ServerDidNotStart(("the server is not installed here: " + SERVER_INSTALL) if missing else
                                "the embedded server exited before serving: " + (output.splitlines() or ["?"])[-1])
    threading.Thread(target=process.stdout.read, name="lrctl-embedded-drain", daemon=True).start()
    return Endpoints(address, metrics_url)
