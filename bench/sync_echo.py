"""The old synchronous stack's empty echo, the control-plane benchmark's second peer.

`python bench/sync_echo.py` serves lrctl.v1.Diagnostics/Echo on a free loopback port (and
prints it) from grpcio's synchronous server with 16 worker threads, lrctl's server core
before the event loop, with no interceptors: the best that stack does for an empty RPC.
control_plane.py runs it beside `lrctl serve` (grpc.aio) and compares both echoes.
"""
from __future__ import annotations

import pathlib
import subprocess
import sys
from concurrent import futures

import grpc

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from lrctl.v1 import controller_pb2_grpc  # noqa: E402

WORKERS = 16


class _Echo(controller_pb2_grpc.DiagnosticsServicer):
    def Echo(self, request, context):  # noqa: N802 - the generated servicer's name
        return request


def serve() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=WORKERS))
    controller_pb2_grpc.add_DiagnosticsServicer_to_server(_Echo(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


class SyncEchoServer:
    """This module's server in a child process."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.address = f"127.0.0.1:{int(self.process.stdout.readline())}"

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


if __name__ == "__main__":
    serve()
