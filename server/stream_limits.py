"""Limits on open streams, per server and per client connection, for every streaming call.

An open stream costs a coroutine and its buffers, not a thread, but a server still must not
let one client (or all of them) open streams without end. Every streaming call counts, ours
and the open ones alike (health Watch and reflection need no token), from when it starts
until it ends; the call past a limit is answered RESOURCE_EXHAUSTED at once, naming the
limit and its flag. The per-job limit on WatchJob streams lives with the job's watchers.
A connection is told apart by its peer address (host and port of the client's socket).
"""
from __future__ import annotations

import collections
import threading

import grpc

from lrctl.server.interception import HandlerCache, around


class StreamLimitsInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, max_streams: int, max_streams_per_connection: int) -> None:
        self.max_streams = max_streams
        self.max_streams_per_connection = max_streams_per_connection
        self._lock = threading.Lock()
        self._open = 0
        self._by_peer: collections.Counter[str] = collections.Counter()
        self._handlers = HandlerCache()

    @property
    def open_streams(self) -> int:
        return self._open

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or not (handler.request_streaming or handler.response_streaming):
            return handler
        return self._handlers.get(handler_call_details.method, handler,
                                  lambda h: around(h, self._enter, self._leave))

    async def _enter(self, request, context: grpc.aio.ServicerContext):
        refusal = self._admit(context.peer())
        if refusal:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, refusal)
        return request

    def _admit(self, peer: str) -> str:
        """Counts a new stream in, or says which limit it would pass."""
        with self._lock:
            if self._open >= self.max_streams:
                return (f"stream limit reached: {self.max_streams} open streams on this server "
                        "(--max-streams)")
            if self._by_peer[peer] >= self.max_streams_per_connection:
                return (f"stream limit reached: {self.max_streams_per_connection} open streams on this "
                        "connection (--max-streams-per-connection)")
            self._open += 1
            self._by_peer[peer] += 1
            return ""

    def _leave(self, context: grpc.aio.ServicerContext) -> None:
        peer = context.peer()
        with self._lock:
            self._open -= 1
            self._by_peer[peer] -= 1
            if not self._by_peer[peer]:
                del self._by_peer[peer]
