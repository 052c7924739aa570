"""A grpc.ServerInterceptor that feeds the go-grpc-prometheus series declared in metrics.py.

It counts every RPC (unary and streaming, messages included), its status code and its
duration. The code is the one grpc itself sends: the one the handler set or aborted with,
else OK on return and Unknown on an exception; an RPC whose client went away first (the
handler returned after it, or the server stopped reading its response stream) counts as
Canceled, or DeadlineExceeded when the deadline has passed.
Code labels are Go's names ("NotFound"), as every go-grpc-prometheus dashboard expects.

Wrapped handlers are cached per method, so the per-call cost is a dict lookup, a few counter
increments and one histogram observation.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from time import perf_counter
from typing import Any

import grpc

from . import metrics

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


def code_label(code: grpc.StatusCode) -> str:
    """go-grpc-prometheus's `grpc_code` value for a Python status code."""
    return _GO_CODE_NAMES.get(code, "Unknown")


def grpc_type(request_streaming: bool, response_streaming: bool) -> str:
    if request_streaming:
        return BIDI_STREAM if response_streaming else CLIENT_STREAM
    return SERVER_STREAM if response_streaming else UNARY


class _MethodMetrics:
    """The labelled children of one method, resolved once."""

    __slots__ = ("_labels", "started", "received", "sent", "seconds", "_handled")

    def __init__(self, full_method: str, kind: str) -> None:
        service, _, method = full_method.lstrip("/").rpartition("/")
        self._labels = (kind, service or "unknown", method)
        self.started = metrics.GRPC_SERVER_STARTED.labels(*self._labels)
        self.received = metrics.GRPC_SERVER_MSG_RECEIVED.labels(*self._labels)
        self.sent = metrics.GRPC_SERVER_MSG_SENT.labels(*self._labels)
        self.seconds = metrics.GRPC_SERVER_HANDLING_SECONDS.labels(*self._labels)
        self._handled: dict[str, Any] = {}
        self.handled("OK")

    def handled(self, code: str):
        child = self._handled.get(code)
        if child is None:
            child = self._handled[code] = metrics.GRPC_SERVER_HANDLED.labels(*self._labels, code)
        return child

    def finish(self, context: grpc.ServicerContext, start: float, failed: bool) -> str:
        """Counts the RPC as handled with grpc's own choice of code; returns that code."""
        code = context.code()
        if code is not None:
            label = code_label(code)
        elif failed:
            label = "Unknown"
        else:
            label = "OK" if context.is_active() else _gone(context)
        self.handled(label).inc()
        self.seconds.observe(perf_counter() - start)
        return label

    def abandoned(self, context: grpc.ServicerContext, start: float) -> None:
        """The server stopped reading the response stream: the client went away or timed out."""
        self.handled(_gone(context)).inc()
        self.seconds.observe(perf_counter() - start)


def _gone(context: grpc.ServicerContext) -> str:
    """The code of an RPC that ended from the client's side: its deadline passed or it cancelled."""
    remaining = context.time_remaining()
    return "DeadlineExceeded" if remaining is not None and remaining <= 0 else "Canceled"


def _counted_requests(requests: Iterator[Any], received) -> Iterator[Any]:
    for request in requests:
        received.inc()
        yield request


def _counted_responses(responses: Iterator[Any], m: _MethodMetrics,
                       context: grpc.ServicerContext, start: float) -> Iterator[Any]:
    try:
        for response in responses:
            m.sent.inc()
            yield response
    except GeneratorExit:
        m.abandoned(context, start)
        raise
    except Exception:
        m.finish(context, start, failed=True)
        raise
    m.finish(context, start, failed=False)


def _single_response(behavior: Callable, m: _MethodMetrics, request: Any,
                     context: grpc.ServicerContext, start: float) -> Any:
    try:
        response = behavior(request, context)
    except Exception:
        m.finish(context, start, failed=True)
        raise
    if m.finish(context, start, failed=False) == "OK":
        m.sent.inc()
    return response


def _stream_of_responses(behavior: Callable, m: _MethodMetrics, request: Any,
                         context: grpc.ServicerContext, start: float) -> Iterator[Any]:
    try:
        responses = behavior(request, context)
    except Exception:
        m.finish(context, start, failed=True)
        raise
    return _counted_responses(responses, m, context, start)


def _wrap(handler: grpc.RpcMethodHandler, m: _MethodMetrics) -> grpc.RpcMethodHandler:
    ser, deser = handler.response_serializer, handler.request_deserializer
    if handler.request_streaming:
        behavior = handler.stream_stream if handler.response_streaming else handler.stream_unary
        respond = _stream_of_responses if handler.response_streaming else _single_response

        def streaming_request(requests, context):
            m.started.inc()
            return respond(behavior, m, _counted_requests(requests, m.received), context,
                           perf_counter())

        make = (grpc.stream_stream_rpc_method_handler if handler.response_streaming
                else grpc.stream_unary_rpc_method_handler)
        return make(streaming_request, request_deserializer=deser, response_serializer=ser)

    behavior = handler.unary_stream if handler.response_streaming else handler.unary_unary
    respond = _stream_of_responses if handler.response_streaming else _single_response

    def single_request(request, context):
        m.started.inc()
        m.received.inc()
        return respond(behavior, m, request, context, perf_counter())

    make = (grpc.unary_stream_rpc_method_handler if handler.response_streaming
            else grpc.unary_unary_rpc_method_handler)
    return make(single_request, request_deserializer=deser, response_serializer=ser)


class GrpcMetricsInterceptor(grpc.ServerInterceptor):
    """Counts and times every RPC the server handles; put it first in the interceptor list
    so that calls refused by later interceptors (auth) are counted with their codes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._methods: dict[str, _MethodMetrics] = {}
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def initialize_service(self, service_descriptor: Any) -> None:
        """Creates every method's series at zero (from a protobuf ServiceDescriptor), so that
        rates and error ratios exist before the first call."""
        for method in service_descriptor.methods:
            self._method_metrics(f"/{service_descriptor.full_name}/{method.name}",
                                 grpc_type(method.client_streaming, method.server_streaming))

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        kind = grpc_type(handler.request_streaming, handler.response_streaming)
        wrapped = _wrap(handler, self._method_metrics(method, kind))
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _method_metrics(self, full_method: str, kind: str) -> _MethodMetrics:
        with self._lock:
            m = self._methods.get(full_method)
            if m is None:
                m = self._methods[full_method] = _MethodMetrics(full_method, kind)
            return m
