"""The calls a client makes on one channel: Controller and Optimizer methods by name, each with
a deadline, every gRPC failure raised as the typed exception of lrctl.errors.

`Client` builds one and hands it to every `Job` it makes, so a job handle depends on this
small interface and not on the client object.
"""
from __future__ import annotations

from typing import Any, Iterator

import grpc

from lrctl.protocol import chunk_messages
from lrctl.errors import from_rpc_error
from lrctl.v1 import controller_pb2, controller_pb2_grpc, optimizer_pb2


def _optimizer_methods(channel: grpc.Channel) -> dict[str, Any]:
    """The Optimizer's calls, as the generated stub makes them but with chunk messages
    written and read by lrctl.chunk_messages (requests may be its bytes)."""
    service = optimizer_pb2.DESCRIPTOR.services_by_name["Optimizer"]
    return {method.name: getattr(channel, chunk_messages.rpc_kind(method))(
                f"/{service.full_name}/{method.name}",
                request_serializer=chunk_messages.serializer(method.input_type),
                response_deserializer=chunk_messages.deserializer(method.output_type),
                _registered_method=True)
            for method in service.methods}


class Transport:
    """`call(name, request)` for methods answering one message, `stream(name, request,
    timeout)` for those answering a stream; `timeout` is the default deadline in seconds,
    `outage_tolerance` how long job handles ride out an outage of every server (lrctl.outage)."""

    def __init__(self, channel: grpc.Channel, timeout: float, target: str = "", outage_tolerance: float = 0.0) -> None:
        self.channel = channel
        self.timeout = timeout
        self.target = target
        self.outage_tolerance = outage_tolerance
        controller = controller_pb2_grpc.ControllerStub(channel)
        self._methods: dict[str, Any] = {
            name: getattr(controller, name)
            for name in controller_pb2.DESCRIPTOR.services_by_name["Controller"].methods_by_name}
        self._methods.update(_optimizer_methods(channel))
        self._echo = controller_pb2_grpc.DiagnosticsStub(channel).Echo

    def call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        """A Controller or Optimizer call that answers one message (unary or client stream)."""
        try:
            return self._methods[method](request, timeout=timeout or self.timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error, self.target) from None

    def stream(self, method: str, request: Any, timeout: float | None, *,
               end_on_cancel: bool = False) -> Iterator[Any]:
        """A call that answers a stream; `timeout` None means no deadline (a watch).

        Only a watch may end quietly when cancelled (the channel closed under it); a
        cancelled data stream raises, since its answer would be incomplete.
        """
        try:
            yield from self._methods[method](request, timeout=timeout)
        except grpc.RpcError as error:
            if end_on_cancel and error.code() == grpc.StatusCode.CANCELLED:
                return
            raise from_rpc_error(error, self.target) from None

    def echo(self, payload: bytes = b"") -> bytes:
        try:
            return self._echo(controller_pb2.EchoMessage(payload=payload), timeout=self.timeout).payload
        except grpc.RpcError as error:
            raise from_rpc_error(error, self.target) from None

    def close(self) -> None:
        self.channel.close()
