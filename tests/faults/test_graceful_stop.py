"""SIGTERM under load (DESIGN §5): NOT_SERVING first, in-flight calls finish, every answered
call is durable, every refused one was not applied, snapshots are written, exit status 0."""
from __future__ import annotations

import pathlib
import signal
import threading
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import lrctl
from lrctl.v1 import optimizer_pb2, optimizer_pb2_grpc
from tests.faults._support import (
    CONTROL_POLICY,
    DATA_POLICY,
    OPTIMIZERS,
    Reporter,
    Trainer,
    assert_params_equal,
    initial,
    wait_for,
)
from tests.support.server_process import ServerProcess

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
REFUSED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
"""How a call that arrives once the stop began ends: UNAVAILABLE (its connection was told to go
away, or refused), or CANCELLED when it reached the server in the very instant the stop began
(gRPC core cancels a call no handler had taken yet). Either way it was not applied, which the
restart checks."""


class HealthWatch(threading.Thread):
    """A grpc.health.v1 Watch stream on the whole server, recording every status it is sent."""

    def __init__(self, address: str) -> None:
        super().__init__(name="health-watch", daemon=True)
        self.channel = grpc.insecure_channel(address)
        self.statuses: list[int] = []
        self.ended: grpc.StatusCode | None = None

    def run(self) -> None:
        call = health_pb2_grpc.HealthStub(self.channel).Watch(health_pb2.HealthCheckRequest(service=""))
        try:
            for reply in call:
                self.statuses.append(reply.status)
        except grpc.RpcError as error:
            self.ended = error.code()
        else:
            self.ended = grpc.StatusCode.OK


class SlowStep(threading.Thread):
    """A Step on `job_id` (one float32 tensor "w" of `elements` ones) that sends its header and
    the first half of the gradient, then the rest once `release` is set."""

    def __init__(self, address: str, job_id: str, elements: int) -> None:
        super().__init__(name="slow-step", daemon=True)
        self.channel = grpc.insecure_channel(address)
        self.job_id, self.elements = job_id, elements
        self.sent_half, self.release = threading.Event(), threading.Event()
        self.result: optimizer_pb2.StepResult | None = None
        self.params = b""
        self.error: grpc.RpcError | None = None

    def requests(self):
        yield optimizer_pb2.StepRequest(header=optimizer_pb2.StepHeader(job_id=self.job_id, step=0))
        half = self.elements // 2
        for offset, size in ((0, half), (half, self.elements - half)):
            if offset:
                self.sent_half.set()
                self.release.wait(30)
            yield optimizer_pb2.StepRequest(chunk=optimizer_pb2.TensorChunk(
                name="w", shape=(self.elements,), dtype=optimizer_pb2.DTYPE_FLOAT32, offset=offset,
                data=np.ones(size, "<f4").tobytes()))

    def run(self) -> None:
        try:
            for reply in optimizer_pb2_grpc.OptimizerStub(self.channel).Step(self.requests(), timeout=60):
                if reply.HasField("result"):
                    self.result = reply.result
                else:
                    self.params += reply.chunk.data
        except grpc.RpcError as error:
            self.error = error


@pytest.mark.timeout(120)
def test_sigterm_under_load_drains_snapshots_and_exits_cleanly(tmp_path: pathlib.Path) -> None:
    server = ServerProcess(tmp_path, ["--grace-seconds", "10"]).start()
    try:
        with lrctl.Client(server.address) as client:
            for n, optimizer in enumerate(OPTIMIZERS):
                job = client.create_job(f"data-{n}", DATA_POLICY, optimizer={**optimizer, "snapshot_every_steps": 1000})
                job.init_params(initial(n))
            for n in range(6):
                client.create_job(f"control-{n}", CONTROL_POLICY)
            watched = client.create_job("watched", CONTROL_POLICY)
            slow_job = client.create_job("slow", DATA_POLICY, optimizer={"sgd": {}})
            slow_job.init_params({"w": np.zeros(10_000, np.float32)})
            slow = SlowStep(server.address, "slow", 10_000)
            slow.start()
            slow.sent_half.wait(30)
            job_watch: list[BaseException | None] = []

            def watch_job() -> None:
                try:
                    for _ in watched.watch():
                        pass
                    job_watch.append(None)
                except lrctl.LrctlError as error:
                    job_watch.append(error)

            job_watcher = threading.Thread(target=watch_job, daemon=True)
            job_watcher.start()
            health = HealthWatch(server.address)
            health.start()
            trainers = [Trainer(server.address, f"data-{n}", seed=n) for n in range(len(OPTIMIZERS))]
            reporters = [Reporter(server.address, [f"control-{n}", f"control-{n + 3}"]) for n in range(3)]
            for thread in (*trainers, *reporters):
                thread.start()
            wait_for(lambda: health.statuses == [SERVING], 30, "the health watch to say SERVING")
            wait_for(lambda: all(t.acked >= 10 for t in trainers), 60, "every trainer to step")

            started = time.monotonic()
            server.process.terminate()
            wait_for(lambda: NOT_SERVING in health.statuses, 10, "NOT_SERVING on the health watch")
            time.sleep(0.3)
            assert server.process.poll() is None, "the server waits for the step in flight"
            slow.release.set()
            assert server.process.wait(30) == 0
            stopped_in = time.monotonic() - started
            for thread in (*trainers, *reporters, health, slow, job_watcher):
                thread.join(30)
        assert slow.error is None and slow.result.step == 0, slow.error  # in flight at SIGTERM: finished
        assert health.statuses == [SERVING, NOT_SERVING] and health.ended is grpc.StatusCode.OK
        assert any("lrctl: stopped" in line for line in server.output)
        assert stopped_in < 8, f"stopping took {stopped_in:.1f} s: an open stream waited out the grace period"
        for thread in (*trainers, *reporters):  # each stopped at its first refused call
            assert thread.error is not None and thread.error.code in REFUSED, thread.error
        assert len(job_watch) == 1 and isinstance(job_watch[0], lrctl.Unavailable), job_watch  # watch again

        server = ServerProcess(tmp_path).start()
        with lrctl.Client(server.address) as client:
            step, params = client.job("slow").pull()
            assert step == 1 and params["w"].tobytes() == slow.params
            for trainer in trainers:
                step, params = client.job(trainer.job_id).pull()
                assert step == trainer.acked + 1, "the shutdown snapshot covers every answered step"
                assert_params_equal(params, trainer.replies[step])
            for reporter in reporters:
                for job_id, acked in reporter.acked.items():
                    assert client.job(job_id).info().last_report_step == max(acked)
    finally:
        server.kill()


def test_a_burst_of_stop_signals_still_stops_the_server(tmp_path: pathlib.Path) -> None:
    """`timeout`, a process manager and an impatient operator may each send SIGTERM or SIGINT:
    a signal that lands while the handler of the previous one runs must not hang the server
    (a handler that takes a lock deadlocks against itself)."""
    server = ServerProcess(tmp_path).start()
    try:
        for _ in range(200):
            server.process.send_signal(signal.SIGTERM)
            server.process.send_signal(signal.SIGINT)
        assert server.process.wait(20) == 0
        assert any("lrctl: stopped" in line for line in server.output)
    finally:
        server.kill()
