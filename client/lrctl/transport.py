"""The calls a client makes on one channel: Controller and Optimizer methods by name, each with
a deadline, every gRPC failure raised as the typed exception of lrctl.errors.

`Client` builds one and hands it to every `Job` it makes, so a job handle depends on this
small interface and not on the client object.

A data-plane job lives on one replica (its owner); another replica answers its data-plane
calls FAILED_PRECONDITION with the owner's address (lrctl.v1.DataPlaneOwner). `follow` sends
such a call there, on a channel to that one address built like the client's own (same token,
TLS, options, retries), and keeps sending the job's data-plane calls there until the owner
stops answering.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, TypeVar

import grpc

from lrctl.protocol import chunk_messages
from lrctl.errors import FailedPrecondition, Unavailable, from_rpc_error
from lrctl.outage import OUTAGE_ERRORS
from lrctl.v1 import controller_pb2, controller_pb2_grpc, optimizer_pb2

T = TypeVar("T")

MAX_REDIRECTS = 3
"""Owner addresses one call follows before it gives up (owners moving faster than it can follow)."""


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
    `outage_tolerance` how long job handles ride out an outage of every server (lrctl.outage);
    `dial(address)` opens a channel to one replica, for `follow` (without it, a redirect is
    raised as it came)."""

    def __init__(self, channel: grpc.Channel, timeout: float, target: str = "", outage_tolerance: float = 0.0,
                 dial: Callable[[str], grpc.Channel] | None = None) -> None:
        self.channel = channel
        self.timeout = timeout
        self.target = target
        self.outage_tolerance = outage_tolerance
        self._dial = dial
        self._owners: dict[str, str] = {}
        """Job id -> address of the replica its data-plane calls go to."""
        self._peers: dict[str, Transport] = {}
        self._peers_lock = threading.Lock()
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

    def follow(self, job_id: str, attempt: Callable[["Transport"], T]) -> T:
        """`attempt(transport)` for a data-plane call of `job_id` (an import's may be ""), on
        the replica that holds the job: this transport until an answer names another one,
        then that one. A redirect is followed at most MAX_REDIRECTS times; when the owner does
        not answer (UNAVAILABLE or DEADLINE_EXCEEDED), the error is raised naming it, and the
        job's next call asks the client's own target again."""
        key, redirects = job_id, 0
        address = self._owners.get(key)
        while True:
            transport = self if address is None else self._peer(address)
            try:
                return attempt(transport)
            except FailedPrecondition as redirect:
                owner = redirect.owner
                if (owner is None or self._dial is None or not owner.address or owner.address == address
                        or redirects == MAX_REDIRECTS):
                    raise
                redirects += 1
                key = owner.job_id
                address = self._owners[key] = owner.address
            except OUTAGE_ERRORS as error:
                if address is None:
                    raise
                self._owners.pop(key, None)
                if isinstance(error, Unavailable):
                    reason = f"job {key!r}, data plane on {address}: {error.reason}"
                    raise Unavailable(f"UNAVAILABLE: {reason}", reason=reason, owner=error.owner) from None
                raise

    def _peer(self, address: str) -> "Transport":
        """The transport to the one replica at `address`, opened on first use."""
        with self._peers_lock:
            peer = self._peers.get(address)
            if peer is None:
                peer = self._peers[address] = Transport(self._dial(address), self.timeout, address,
                                                        self.outage_tolerance)
            return peer

    def echo(self, payload: bytes = b"") -> bytes:
        try:
            return self._echo(controller_pb2.EchoMessage(payload=payload), timeout=self.timeout).payload
        except grpc.RpcError as error:
            raise from_rpc_error(error, self.target) from None

    def close(self) -> None:
        with self._peers_lock:
            peers, self._peers = list(self._peers.values()), {}
        for peer in peers:
            peer.close()
        self.channel.close()
