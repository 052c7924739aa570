"""The floor under any Step: grpcio moving prebuilt bytes one way, with no protobuf and no work.

`python bench/bare_grpc.py` serves two methods on a free loopback port (and prints it):
  - Up:   a client stream of raw byte messages, dropped on arrival;
  - Down: a server stream of prebuilt messages of the same sizes.
Identity (de)serializers: every byte crosses exactly what gRPC itself does. A Step must move
its gradients up, run the optimizer, then move its parameters down, one after the other, so
up + kernel + down is the least a Step can take on this stack; an echo overlaps its two
directions. remote_step.py starts this in its own process and prints step / floor.
"""
from __future__ import annotations

import subprocess
import sys
from concurrent import futures
from typing import Iterator

import grpc

SERVICE = "bench.Bare"
OPTIONS = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]


def _identity(message: bytes) -> bytes:
    return message


def _up(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
    for _ in requests:
        pass
    return b""


_PREBUILT: dict[int, bytes] = {}


def _down(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    """`total` bytes in messages of `chunk` bytes (the last one shorter); request b"total,chunk"."""
    total, chunk = (int(field) for field in request.split(b","))
    payload = _PREBUILT.setdefault(chunk, bytes(range(256)) * (chunk // 256) + bytes(chunk % 256))
    for start in range(0, total, chunk):
        yield payload if total - start >= chunk else payload[:total - start]


def serve() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=OPTIONS)
    handlers = {"Up": grpc.stream_unary_rpc_method_handler(_up, _identity, _identity),
                "Down": grpc.unary_stream_rpc_method_handler(_down, _identity, _identity)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


class BareServer:
    """This module's server in a child process, and its two calls."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.channel = grpc.insecure_channel(f"127.0.0.1:{int(self.process.stdout.readline())}", options=OPTIONS)
        self._up = self.channel.stream_unary(f"/{SERVICE}/Up", _identity, _identity)
        self._down = self.channel.unary_stream(f"/{SERVICE}/Down", _identity, _identity)

    def up(self, payloads: list[bytes]) -> None:
        self._up(iter(payloads), timeout=120)

    def down(self, total: int, chunk: int) -> None:
        for _ in self._down(f"{total},{chunk}".encode(), timeout=120):
            pass

    def close(self) -> None:
        self.channel.close()
        self.process.kill()
        self.process.wait()


if __name__ == "__main__":
    serve()
