"""Rebuilding grpc.aio method handlers around their behaviour, for the server's interceptors.

An aio handler's behaviour is a coroutine function (unary responses, and response streams
written with `context.write`, as grpc_health's Watch does) or an async generator function
(response streams that yield). A wrapper must keep that shape, or grpc would treat the
call differently, so every interceptor wraps through here.
"""
from __future__ import annotations

import inspect
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc

Enter = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
"""Runs before the behaviour; returns the request (or request iterator) to pass on, or aborts."""
Leave = Callable[[grpc.aio.ServicerContext], None]
"""Runs after the behaviour, however it ended, if `enter` returned."""

_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def behavior_of(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    if handler.request_streaming:
        return handler.stream_stream if handler.response_streaming else handler.stream_unary
    return handler.unary_stream if handler.response_streaming else handler.unary_unary


def yields_responses(handler: grpc.RpcMethodHandler) -> bool:
    """True when the behaviour is an async generator (it yields its responses)."""
    return inspect.isasyncgenfunction(behavior_of(handler))


def rebuilt(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any]) -> grpc.RpcMethodHandler:
    """A handler of the same kind and (de)serializers as `handler`, running `behavior`."""
    return _FACTORIES[(handler.request_streaming, handler.response_streaming)](
        behavior, request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer)


def around(handler: grpc.RpcMethodHandler, enter: Enter, leave: Leave | None = None) -> grpc.RpcMethodHandler:
    """`handler` with `enter` run before its behaviour and `leave` after it."""
    behavior = behavior_of(handler)
    if yields_responses(handler):
        async def streaming(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            request = await enter(request, context)
            try:
                async for response in behavior(request, context):
                    yield response
            finally:
                if leave is not None:
                    leave(context)
        return rebuilt(handler, streaming)

    async def single(request: Any, context: grpc.aio.ServicerContext) -> Any:
        request = await enter(request, context)
        try:
            return await behavior(request, context)
        finally:
            if leave is not None:
                leave(context)
    return rebuilt(handler, single)


class HandlerCache:
    """Wrapped handlers by method, rebuilt only when grpc hands out another handler object."""

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def get(self, method: str, handler: grpc.RpcMethodHandler,
            wrap: Callable[[grpc.RpcMethodHandler], grpc.RpcMethodHandler]) -> grpc.RpcMethodHandler:
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = wrap(handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped
