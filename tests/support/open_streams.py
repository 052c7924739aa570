"""Many streams held open against a real server, and GetLearningRate callers beside them.

Shared by the load test (tests/load/test_open_streams.py: nothing times out) and the bench
(bench/open_streams.py: GetLearningRate's latency with and without the streams). Everything
runs as grpc.aio coroutines in one client process, spread over channels that each own their
connection (a local subchannel pool), the way many client processes would reach a server.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lrctl.v1 import controller_pb2, controller_pb2_grpc, optimizer_pb2, optimizer_pb2_grpc

OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", 64 << 20)]
STEP_ELEMENTS = 32_768
"""Parameters of each job whose Step reply is never read: 128 KiB, twice gRPC's initial window,
so the server's send of it blocks on flow control."""


def channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=OWN_CONNECTION)


def bearer(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


@dataclass
class OpenStreams:
    """Calls held open; `close()` cancels them all."""

    channels: list[grpc.aio.Channel]
    watches: list[grpc.aio.UnaryStreamCall] = field(default_factory=list)
    health_watches: list[grpc.aio.UnaryStreamCall] = field(default_factory=list)
    steps: list[grpc.aio.StreamStreamCall] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.watches) + len(self.health_watches) + len(self.steps)

    async def close(self) -> None:
        for call in (*self.watches, *self.health_watches, *self.steps):
            call.cancel()
        for opened in self.channels:
            await opened.close()


async def _step_requests(job_id: str):
    yield optimizer_pb2.StepRequest(header=optimizer_pb2.StepHeader(job_id=job_id, step=0))
    yield optimizer_pb2.StepRequest(chunk=optimizer_pb2.TensorChunk(
        name="w", shape=(STEP_ELEMENTS,), dtype=optimizer_pb2.DTYPE_FLOAT32,
        data=np.ones(STEP_ELEMENTS, "<f4").tobytes()))


async def open_streams(address: str, token: str | None, watched: dict[str, int], health_watches: int,
                       unread_steps: list[str], connections: int = 10) -> OpenStreams:
    """`watched[job]` WatchJob streams per job (each has delivered the job's first event when
    this returns), `health_watches` health Watch streams without a token (each has delivered
    its first status), and one Step on each of `unread_steps` (SGD jobs with STEP_ELEMENTS
    parameters "w", at step 0) whose reply is never read."""
    channels = [channel(address) for _ in range(connections)]
    opened = OpenStreams(channels)
    controllers = [controller_pb2_grpc.ControllerStub(c) for c in channels]
    healths = [health_pb2_grpc.HealthStub(c) for c in channels]
    optimizers = [optimizer_pb2_grpc.OptimizerStub(c) for c in channels]
    n = 0
    for job_id, watchers in watched.items():
        for _ in range(watchers):
            opened.watches.append(controllers[n % connections].WatchJob(
                controller_pb2.WatchJobRequest(job_id=job_id), metadata=bearer(token)))
            n += 1
    for _ in range(health_watches):
        opened.health_watches.append(healths[n % connections].Watch(health_pb2.HealthCheckRequest(service="")))
        n += 1
    for job_id in unread_steps:
        opened.steps.append(optimizers[n % connections].Step(_step_requests(job_id), metadata=bearer(token)))
        n += 1
    await asyncio.gather(*(call.read() for call in (*opened.watches, *opened.health_watches)))
    return opened


@dataclass(frozen=True)
class Latencies:
    seconds: np.ndarray
    errors: tuple[str, ...]

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.seconds, q)) if self.seconds.size else float("nan")


async def lr_callers(address: str, token: str | None, job_ids: list[str], callers: int,
                     seconds: float, deadline: float = 10.0) -> tuple[Latencies, float]:
    """`callers` coroutines calling GetLearningRate back to back (horizon 1, a new step each
    time) for `seconds`; (latencies and errors, calls per second)."""
    async with channel(address) as opened:
        stub = controller_pb2_grpc.ControllerStub(opened)
        latencies: list[float] = []
        errors: list[str] = []
        stop = time.perf_counter() + seconds

        async def caller(index: int) -> None:
            job_id, step = job_ids[index % len(job_ids)], 0
            while time.perf_counter() < stop:
                step += 1
                started = time.perf_counter()
                try:
                    await stub.GetLearningRate(controller_pb2.GetLearningRateRequest(
                        job_id=job_id, step=step, horizon=1), timeout=deadline, metadata=bearer(token))
                except grpc.aio.AioRpcError as error:
                    errors.append(f"{error.code().name}: {error.details()}")
                    continue
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(callers)))
        elapsed = time.perf_counter() - began
    return Latencies(np.array(latencies), tuple(errors)), len(latencies) / elapsed
