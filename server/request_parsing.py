"""Requests that do not parse are the caller's mistake: INVALID_ARGUMENT, before any handler.

grpc.aio runs a method's deserializer itself, and a message that fails to parse (a unary
request, or any message of a request stream, which is parsed only when read) escapes as an
exception that grpc answers with UNKNOWN. Here every deserializer is wrapped so that a parse
failure becomes a marker, and the first code to see the marker refuses the call with
INVALID_ARGUMENT naming the message type.
"""
from __future__ import annotations

from typing import Any, AsyncIterator, Callable

import grpc
from google.protobuf.message import DecodeError

from lrctl.server.interception import HandlerCache, behavior_of, rebuilt, yields_responses


class _Unparsed:
    __slots__ = ("error",)

    def __init__(self, error: DecodeError) -> None:
        self.error = error


def _tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as error:
            return _Unparsed(error)
    return parse


async def _refuse(context: grpc.aio.ServicerContext, unparsed: _Unparsed) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"a request message does not parse: {unparsed.error}")


async def _checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, _Unparsed):
            await _refuse(context, request)
        yield request


def _wrap(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    behavior = behavior_of(handler)

    async def checked(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if handler.request_streaming:
            return _checked(request, context)
        if isinstance(request, _Unparsed):
            await _refuse(context, request)
        return request

    if yields_responses(handler):
        async def yielding(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for response in behavior(await checked(request, context), context):
                yield response
        wrapped = rebuilt(handler, yielding)
    else:
        async def single(request: Any, context: grpc.aio.ServicerContext) -> Any:
            return await behavior(await checked(request, context), context)
        wrapped = rebuilt(handler, single)
    if handler.request_deserializer is None:
        return wrapped
    return wrapped._replace(request_deserializer=_tolerant(handler.request_deserializer))


class RequestParsingInterceptor(grpc.aio.ServerInterceptor):
    """Put it right after the metrics interceptor, so refusals are counted with their code."""

    def __init__(self) -> None:
        self._handlers = HandlerCache()

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return self._handlers.get(handler_call_details.method, handler, _wrap)
