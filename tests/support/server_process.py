"""A real `lrctl serve` process on a free loopback port, for end-to-end tests."""
from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
from typing import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING_LINE = re.compile(r"lrctl: serving on (\S+)")
METRICS_LINE = re.compile(r"lrctl: metrics on (\S+)")
START_TIMEOUT = 30.0


class ServerProcess:
    """Starts `python -m lrctl.cli.main serve` (or another `module` with lrctl's command line)
    on 127.0.0.1:0 and learns its port from stdout."""

    def __init__(self, data_dir: pathlib.Path, extra_args: Sequence[str] = (), env: dict[str, str] | None = None,
                 module: str = "lrctl.cli.main"):
        self.data_dir = data_dir
        self.module = module
        self.extra_args = list(extra_args)
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[str] | None = None
        self.address = ""
        self.metrics_url = ""
        self.output: list[str] = []

    def start(self) -> "ServerProcess":
        command = [sys.executable, "-m", self.module, "serve", "--listen", "127.0.0.1:0",
                   "--metrics-port", "0", "--data-dir", str(self.data_dir), *self.extra_args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env=self.env)
        found = threading.Event()

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                match = SERVING_LINE.search(line)
                if match:
                    self.address = match.group(1)
                match = METRICS_LINE.search(line)
                if match and not found.is_set():
                    self.metrics_url = match.group(1)
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(START_TIMEOUT) or not self.address:
            self.kill()
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        return self

    def health(self, service: str = "", credentials: grpc.ChannelCredentials | None = None) -> int:
        """The health service's status; `credentials` for a server that speaks TLS."""
        channel = (grpc.secure_channel(self.address, credentials) if credentials is not None
                   else grpc.insecure_channel(self.address))
        with channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                              timeout=5)
        return reply.status

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)
