"""Echo RPCs through the same server stack: the reference peer of every benchmark."""
from __future__ import annotations

from typing import AsyncIterator

import grpc

from lrctl.v1 import controller_pb2, controller_pb2_grpc


class DiagnosticsService(controller_pb2_grpc.DiagnosticsServicer):
    async def Echo(self, request: controller_pb2.EchoMessage,
                   context: grpc.aio.ServicerContext) -> controller_pb2.EchoMessage:
        return request

    async def EchoStream(self, request_iterator: AsyncIterator[controller_pb2.EchoMessage],
                         context: grpc.aio.ServicerContext) -> AsyncIterator[controller_pb2.EchoMessage]:
        async for message in request_iterator:
            yield message
