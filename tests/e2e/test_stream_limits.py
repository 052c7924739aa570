"""Open streams cost no thread, and have limits: per job (WatchJob), per connection and per
server (every streaming call, health Watch and reflection included). A call past a limit is
answered RESOURCE_EXHAUSTED at once, naming the limit's flag; closing a stream frees its place."""
from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import lrctl
from lrctl.v1 import controller_pb2, controller_pb2_grpc
from tests.security.conftest import ADMIN, token_file
from tests.support.open_streams import bearer, channel
from tests.support.server_process import ServerProcess

REFUSED_WITHIN = 2.0


async def refused(call) -> grpc.aio.AioRpcError:
    """The error a stream call ends with, which must come at once."""
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call.read()
    assert time.monotonic() - started < REFUSED_WITHIN
    return error.value


def health_watch(opened: grpc.aio.Channel):
    return health_pb2_grpc.HealthStub(opened).Watch(health_pb2.HealthCheckRequest(service=""))


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("limits")
    process = ServerProcess(directory / "data", ["--admin-token-file", str(token_file(directory, ADMIN)),
                                                 "--max-streams", "12", "--max-streams-per-connection", "5",
                                                 "--max-watchers-per-job", "3"]).start()
    yield process
    process.kill()


def test_the_watcher_past_the_per_job_limit_is_refused_at_once(server: ServerProcess) -> None:
    """The default limit: 64 watchers on one job, the 65th refused."""
    with lrctl.Client(server.address) as client:
        client.create_job("watched-65", {"lr": 0.1})

    async def run() -> None:
        channels = [channel(server.address) for _ in range(2)]  # 64 fit the per-connection limit either way
        stubs = [controller_pb2_grpc.ControllerStub(c) for c in channels]
        calls = [stubs[n % 2].WatchJob(controller_pb2.WatchJobRequest(job_id="watched-65")) for n in range(64)]
        try:
            await asyncio.gather(*(call.read() for call in calls))  # each delivered "created"
            error = await refused(stubs[0].WatchJob(controller_pb2.WatchJobRequest(job_id="watched-65")))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert error.details() == ("watcher limit reached: 64 WatchJob streams on job 'watched-65' "
                                       "(--max-watchers-per-job)")
            calls.pop().cancel()
            await asyncio.sleep(0.2)
            again = stubs[1].WatchJob(controller_pb2.WatchJobRequest(job_id="watched-65"))
            assert (await again.read()).version == 1, "a closed watch frees its place"
            calls.append(again)
        finally:
            for call in calls:
                call.cancel()
            for opened in channels:
                await opened.close()

    asyncio.run(run())


def test_the_stream_past_the_per_connection_limit_is_refused_and_other_connections_go_on(
        limited: ServerProcess) -> None:
    async def run() -> None:
        first, second = channel(limited.address), channel(limited.address)
        calls = [health_watch(first) for _ in range(5)]
        try:
            await asyncio.gather(*(call.read() for call in calls))
            error = await refused(health_watch(first))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert error.details() == ("stream limit reached: 5 open streams on this connection "
                                       "(--max-streams-per-connection)")
            other = health_watch(second)
            assert (await other.read()).status == health_pb2.HealthCheckResponse.SERVING
            calls.append(other)
            unary = controller_pb2_grpc.DiagnosticsStub(first).Echo(controller_pb2.EchoMessage(payload=b"x"),
                                                                    metadata=bearer(ADMIN), timeout=5)
            assert (await unary).payload == b"x", "unary calls are not streams"
        finally:
            for call in calls:
                call.cancel()
            await first.close()
            await second.close()

    asyncio.run(run())


def test_every_stream_counts_against_the_server_limit_token_or_not(limited: ServerProcess) -> None:
    """Health watches and reflection without a token, and job watches with one, share the
    server's 12 places."""
    with lrctl.Client(limited.address, token=ADMIN) as client:
        for n in range(2):
            client.create_job(f"counted-{n}", {"lr": 0.1})

    async def run() -> None:
        channels = [channel(limited.address) for _ in range(4)]
        calls = [health_watch(channels[n % 4]) for n in range(8)]
        calls += [controller_pb2_grpc.ControllerStub(channels[n % 4]).WatchJob(
            controller_pb2.WatchJobRequest(job_id=f"counted-{n % 2}"), metadata=bearer(ADMIN)) for n in range(3)]
        try:
            await asyncio.gather(*(call.read() for call in calls))
            reflection = reflection_pb2_grpc.ServerReflectionStub(channels[3]).ServerReflectionInfo()
            await reflection.write(reflection_pb2.ServerReflectionRequest(list_services=""))
            assert (await reflection.read()).list_services_response.service
            calls.append(reflection)  # the 12th
            for extra in (health_watch(channels[3]), controller_pb2_grpc.ControllerStub(channels[2]).WatchJob(
                    controller_pb2.WatchJobRequest(job_id="counted-1"), metadata=bearer(ADMIN))):
                error = await refused(extra)
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert error.details() == "stream limit reached: 12 open streams on this server (--max-streams)"
        finally:
            for call in calls:
                call.cancel()
            for opened in channels:
                await opened.close()

    asyncio.run(run())
