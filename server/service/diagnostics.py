"""Echo RPCs through the same server stack: the reference peer of every benchmark."""
from __future__ import annotations

from typing import Iterator

import grpc

from lrctl.v1 import controller_pb2, controller_pb2_grpc


class DiagnosticsService(controller_pb2_grpc.DiagnosticsServicer):
    def Echo(self, request: controller_pb2.EchoMessage, context: grpc.ServicerContext) -> controller_pb2.EchoMessage:
        return request

    def EchoStream(self, request_iterator: Iterator[controller_pb2.EchoMessage],
                   context: grpc.ServicerContext) -> Iterator[controller_pb2.EchoMessage]:
        yield from request_iterator
