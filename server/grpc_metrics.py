"""A grpc.aio server interceptor that feeds the go-grpc-prometheus series of ServerMetrics.

It counts every RPC (unary and streaming, messages included), its status code and its
duration. The code is the one grpc itself sends: the one the handler set or aborted with,
else OK on return and Unknown on an exception; an RPC whose client went away first (its
handler was cancelled, or the server stopped reading its response stream) counts as
Canceled, or DeadlineExceeded when the deadline has passed. Code labels are Go's names
("NotFound"), as every go-grpc-prometheus dashboard expects.

Wrapped handlers are cached per method, so the per-call cost is a dict lookup, a few counter
increments and one histogram observation.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from time import perf_counter
from typing import Any

import grpc

from lrctl.server.interception import HandlerCache, behavior_of, rebuilt, yields_responses
from lrctl.server.metrics import ServerMetrics

_GO_CODE_NAMES = {
    grpc.StatusCode.OK: "OK",
    grpc.StatusCode.CANCELLED: "Canceled",
    grpc.StatusCode.UNKNOWN: "Unknown",
    grpc.StatusCode.INVALID_ARGUMENT: "InvalidArgument",
    grpc.StatusCode.DEADLINE_EXCEEDED: "DeadlineExceeded",
    grpc.StatusCode.NOT_FOUND: "NotFound",
    grpc.StatusCode.ALREADY_EXISTS: "AlreadyExists",
    grpc.StatusCode.PERMISSION_DENIED: "PermissionDenied",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "ResourceExhausted",
    grpc.StatusCode.FAILED_PRECONDITION: "FailedPrecondition",
    grpc.StatusCode.ABORTED: "Aborted",
    grpc.StatusCode.OUT_OF_RANGE: "OutOfRange",
    grpc.StatusCode.UNIMPLEMENTED: "Unimplemented",
    grpc.StatusCode.INTERNAL: "Internal",
    grpc.StatusCode.UNAVAILABLE: "Unavailable",
    grpc.StatusCode.DATA_LOSS: "DataLoss",
    grpc.StatusCode.UNAUTHENTICATED: "Unauthenticated",
}

UNARY, CLIENT_STREAM, SERVER_STREAM, BIDI_STREAM = (
    "unary", "client_stream", "server_stream", "bidi_stream")
_ENDED_BY_CLIENT = (asyncio.CancelledError, GeneratorExit)


def code_label(code: grpc.StatusCode) -> str:
    """go-grpc-prometheus's `grpc_code` value for a Python status code."""
    return _GO_CODE_NAMES.get(code, "Unknown")


def grpc_type(request_streaming: bool, response_streaming: bool) -> str:
    if request_streaming:
        return BIDI_STREAM if response_streaming else CLIENT_STREAM
    return SERVER_STREAM if response_streaming else UNARY


class _MethodMetrics:
    """The labelled children of one method, resolved once."""

    __slots__ = ("_labels", "_metrics", "started", "received", "sent", "seconds", "_handled")

    def __init__(self, metrics: ServerMetrics, full_method: str, kind: str) -> None:
        service, _, method = full_method.lstrip("/").rpartition("/")
        self._labels = (kind, service or "unknown", method)
        self._metrics = metrics
        self.started = metrics.grpc_started.labels(*self._labels)
        self.received = metrics.grpc_received.labels(*self._labels)
        self.sent = metrics.grpc_sent.labels(*self._labels)
        self.seconds = metrics.grpc_seconds.labels(*self._labels)
        self._handled: dict[str, Any] = {}
        self.handled("OK")

    def handled(self, code: str):
        child = self._handled.get(code)
        if child is None:
            child = self._handled[code] = self._metrics.grpc_handled.labels(*self._labels, code)
        return child

    def finish(self, context: grpc.aio.ServicerContext, start: float, failed: bool) -> str:
        """Counts the RPC as handled with grpc's own choice of code; returns that code."""
        code = context.code()
        label = code_label(code) if code is not None else ("Unknown" if failed else "OK")
        self.handled(label).inc()
        self.seconds.observe(perf_counter() - start)
        return label

    def abandoned(self, context: grpc.aio.ServicerContext, start: float) -> None:
        """The client went away or timed out before the handler finished."""
        remaining = context.time_remaining()
        self.handled("DeadlineExceeded" if remaining is not None and remaining <= 0 else "Canceled").inc()
        self.seconds.observe(perf_counter() - start)


async def _counted_requests(requests: AsyncIterator[Any], received) -> AsyncIterator[Any]:
    async for request in requests:
        received.inc()
        yield request


class _CountingContext:
    """The call's context, counting what a `context.write`-style handler sends."""

    def __init__(self, context: grpc.aio.ServicerContext, sent) -> None:
        self._context = context
        self._sent = sent

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        self._sent.inc()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _wrap(handler: grpc.RpcMethodHandler, m: _MethodMetrics) -> grpc.RpcMethodHandler:
    behavior = behavior_of(handler)
    request_streaming = handler.request_streaming

    def started(request: Any) -> Any:
        m.started.inc()
        if request_streaming:
            return _counted_requests(request, m.received)
        m.received.inc()
        return request

    if yields_responses(handler):
        async def yielding(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            request, start = started(request), perf_counter()
            try:
                async for response in behavior(request, context):
                    m.sent.inc()
                    yield response
            except _ENDED_BY_CLIENT:
                m.abandoned(context, start)
                raise
            except BaseException:
                m.finish(context, start, failed=True)
                raise
            m.finish(context, start, failed=False)
        return rebuilt(handler, yielding)

    async def single(request: Any, context: grpc.aio.ServicerContext) -> Any:
        request, start = started(request), perf_counter()
        try:
            response = await behavior(request, _CountingContext(context, m.sent) if handler.response_streaming
                                      else context)
        except asyncio.CancelledError:
            m.abandoned(context, start)
            raise
        except BaseException:
            m.finish(context, start, failed=True)
            raise
        if m.finish(context, start, failed=False) == "OK" and not handler.response_streaming:
            m.sent.inc()
        return response
    return rebuilt(handler, single)


class GrpcMetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every RPC the server handles; put it first in the interceptor list
    so that calls refused by later interceptors (stream limits, auth) are counted with their codes."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._server_metrics = metrics
        self._lock = threading.Lock()
        self._methods: dict[str, _MethodMetrics] = {}
        self._handlers = HandlerCache()

    def initialize_service(self, service_descriptor: Any) -> None:
        """Creates every method's series at zero (from a protobuf ServiceDescriptor), so that
        rates and error ratios exist before the first call."""
        for method in service_descriptor.methods:
            self._method_metrics(f"/{service_descriptor.full_name}/{method.name}",
                                 grpc_type(method.client_streaming, method.server_streaming))

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        return self._handlers.get(method, handler, lambda h: _wrap(h, self._method_metrics(
            method, grpc_type(h.request_streaming, h.response_streaming))))

    def _method_metrics(self, full_method: str, kind: str) -> _MethodMetrics:
        with self._lock:
            m = self._methods.get(full_method)
            if m is None:
                m = self._methods[full_method] = _MethodMetrics(self._server_metrics, full_method, kind)
            return m
