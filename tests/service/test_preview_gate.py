"""PreviewGate on a real grpc.aio server: a caller's second preview while its first runs is
refused at once, another caller's goes on, and at most `at_once` run together (the rest wait)."""
from __future__ import annotations

import asyncio

import grpc
import pytest

from lrctl.server.errors import ResourceExhausted
from lrctl.server.service.controller import PreviewGate

METHOD = "/test.Gate/Run"


async def serve(gate: PreviewGate, release: asyncio.Event, running: list[int]):
    async def run(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            async with gate.admitted(context):
                running.append(1)
                await release.wait()
                running.pop()
        except ResourceExhausted as error:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
        return b"done"

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "test.Gate", {"Run": grpc.unary_unary_rpc_method_handler(run)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


def test_one_preview_per_caller_and_at_most_a_few_at_once() -> None:
    async def scenario() -> None:
        gate, release, running = PreviewGate(at_once=2), asyncio.Event(), []
        server, port = await serve(gate, release, running)
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
                    for _ in range(3)]
        calls = [channel.unary_unary(METHOD) for channel in channels]
        try:
            first = asyncio.ensure_future(calls[0](b"", timeout=10))
            while not running:
                await asyncio.sleep(0.01)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await calls[0](b"", timeout=10)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "one PreviewSchedule at a time per caller" in refused.value.details()
            token = (("authorization", "Bearer other"),)
            second = asyncio.ensure_future(calls[0](b"", timeout=10, metadata=token))  # another caller, same connection
            third = asyncio.ensure_future(calls[1](b"", timeout=10))
            while len(running) < 2:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            assert len(running) == 2, "the third waits for a place"
            release.set()
            assert await asyncio.gather(first, second, third) == [b"done"] * 3
        finally:
            for channel in channels:
                await channel.close()
            await server.stop(None)

    asyncio.run(scenario())
