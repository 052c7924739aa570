"""A real server with a few fixture jobs, and the property every fuzzed call must keep.

`Harness.check(method, request)` makes one call and asserts: it ends with a status
within the deadline (never UNKNOWN nor INTERNAL; raw request bytes that do not decode are
INVALID_ARGUMENT, answered before any handler sees them), the server process is alive
and its health check says SERVING, and unless the call returned OK, no fixture job's
observable state changed (GetJob, its stored events, and for data-plane jobs the server's
step and a hash of the pulled parameters). After an OK call the snapshot is taken again.
"""
from __future__ import annotations

import collections
import hashlib
import time
from dataclasses import dataclass
from typing import Any, Iterable

import grpc
import numpy as np
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc

import lrctl
from lrctl.v1 import controller_pb2, controller_pb2_grpc, optimizer_pb2, optimizer_pb2_grpc
from tests.support.server_process import ServerProcess

SERVICES = (controller_pb2.DESCRIPTOR.services_by_name["Controller"],
            optimizer_pb2.DESCRIPTOR.services_by_name["Optimizer"])
METHODS: dict[str, MethodDescriptor] = {m.name: m for service in SERVICES for m in service.methods}
CALL_TIMEOUT = 20.0
WATCH_TIMEOUT = 0.2
"""A watch on an existing job never ends by itself: it is cut by its deadline."""
ENDLESS = ("WatchJob", "Watch")
"""Streams that end only with their deadline: WatchJob, grpc.health.v1.Health/Watch."""

MISSING = "missing"
ACCEPTED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED}


@dataclass(frozen=True)
class Fixture:
    """A job the fuzz test watches: its spec, and for data-plane jobs the parameter layout,
    whether parameters are uploaded, and how many steps to take at set-up."""

    policy: dict[str, Any]
    optimizer: dict[str, Any] | None = None
    layout: dict[str, tuple[int, ...]] | None = None
    upload: bool = True
    steps: int = 0
    reports: tuple[tuple[int, dict[str, float]], ...] = ()


FIXTURES: dict[str, Fixture] = {
    "fz-const": Fixture({"lr": 0.1}),
    "fz-plateau": Fixture(
        {"lr": 0.1, "warmup": {"steps": 5}, "schedule": {"cosine_restarts": {"t_0": 10, "t_mult": 1.5}},
         "plateau": {"metric": "val_loss", "patience": 1, "increase_factor": 2.0, "increase_patience": 2,
                     "increase_max_lr": 1.0},
         "on_nonfinite_metric": "skip"},
        reports=((1, {"val_loss": 1.0}), (2, {"val_loss": 1.1}), (3, {"val_loss": 1.2}))),
    "fz-stop": Fixture(
        {"lr": 0.01, "schedule": {"multistep": {"milestones": [3, 6]}}, "min_lr": 1e-4,
         "early_stopping": {"metric": "acc", "mode": "max", "patience": 2}},
        reports=((1, {"acc": 0.5}),)),
    "fz-adam": Fixture({"lr": 1e-3, "schedule": {"one_cycle": {"total_steps": 100}}},
                       {"adam": {"betas": [0.9, 0.99], "amsgrad": True}, "clipnorm": 1.0},
                       {"emb": (20, 16), "bias": (300,)}, steps=3),
    "fz-sgd": Fixture({"lr": 0.05}, {"sgd": {"momentum": 0.9, "nesterov": True}, "on_nonfinite_gradient": "reject"},
                      {"table": (40, 8), "w": (250,)}, steps=2),
    "fz-fresh": Fixture({"lr": 0.01}, {"adamw": {}}, {"p": (24, 12), "q": (100,)}, upload=False),
}
SCRATCH = tuple(f"fz-scratch-{i}" for i in range(6))
"""Jobs the fuzzer may delete. DeleteJob never names a fixture: deleting one is a legitimate
change, and the invariant is about refused calls, so fixtures stay put and scratch jobs
(recreated when gone) take the deletes."""


def _rng_params(layout: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in layout.items()}


class Harness:
    """The server under test, its fixture jobs, the last snapshot of them, and call counts."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        options = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
        self.channel = grpc.insecure_channel(server.address, options=options)
        self.controller = controller_pb2_grpc.ControllerStub(self.channel)
        self.optimizer = optimizer_pb2_grpc.OptimizerStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.client = lrctl.Client(server.address, timeout=CALL_TIMEOUT)
        self._callables: dict[tuple[str, bool], Any] = {}
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.seconds = 0.0
        for job_id in FIXTURES:
            self._create_fixture(job_id)
        self.ensure_scratch()
        self.exported = b"".join(m.data for m in self.optimizer.ExportJob(
            optimizer_pb2.ExportJobRequest(job_id="fz-adam"), timeout=CALL_TIMEOUT))
        self.state = self.snapshot()

    def close(self) -> None:
        self.client.close()
        self.channel.close()

    def _create_fixture(self, job_id: str) -> None:
        fixture = FIXTURES[job_id]
        job = self.client.create_job(job_id, fixture.policy, optimizer=fixture.optimizer)
        for step, metrics in fixture.reports:
            job.report(step, metrics)
        if fixture.layout and fixture.upload:
            job.init_params(_rng_params(fixture.layout, 0))
            for step in range(fixture.steps):
                job.step(step, _rng_params(fixture.layout, step + 1))

    def _restore(self, state: dict[str, tuple]) -> None:
        """After an OK call: recreates a fixture job an OK call deleted (a legitimate change
        that the fuzzer's requests avoid, except by a byte mutation) and missing scratch jobs."""
        for job_id, job_state in state.items():
            if job_state == (MISSING,):
                self._create_fixture(job_id)
        self.ensure_scratch()

    def ensure_scratch(self) -> None:
        existing = {job.job_id for job in self.client.jobs(page_size=1000)}
        for job_id in SCRATCH:
            if job_id not in existing:
                self.client.create_job(job_id, {"lr": 0.1})

    # ---- what a job looks like from outside -------------------------------------------
    def snapshot(self) -> dict[str, tuple]:
        """Every fixture job's observable state (its unary reads in flight together)."""
        jobs = {job_id: self.controller.GetJob.future(controller_pb2.GetJobRequest(job_id=job_id),
                                                      timeout=CALL_TIMEOUT) for job_id in FIXTURES}
        events = {job_id: self.controller.ListJobEvents.future(
            controller_pb2.ListJobEventsRequest(job_id=job_id, page_size=1000), timeout=CALL_TIMEOUT)
            for job_id in FIXTURES}
        return {job_id: self._job_state(job_id, fixture, jobs[job_id], events[job_id])
                for job_id, fixture in FIXTURES.items()}

    def _job_state(self, job_id: str, fixture: Fixture, job_future: Any, events_future: Any) -> tuple:
        try:
            job, events = job_future.result(), events_future.result().events
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return (MISSING,)
        state: tuple = (job.SerializeToString(deterministic=True), len(events), events[-1].version if events else 0)
        if fixture.optimizer is not None:
            state += self._pulled(job_id)
        return state

    def _pulled(self, job_id: str) -> tuple:
        """(server step, applied steps, skipped, sha256 of the parameters), or the status of a
        job without parameters."""
        digest, header = hashlib.sha256(), None
        try:
            for message in self.optimizer.PullParameters(optimizer_pb2.PullParametersRequest(job_id=job_id),
                                                         timeout=CALL_TIMEOUT):
                if message.HasField("header"):
                    header = message.header
                else:
                    digest.update(message.chunk.SerializeToString(deterministic=True))
        except grpc.RpcError as error:
            return (error.code().name,)
        return (header.server_step, header.applied_steps, header.skipped_nonfinite_gradients, header.elements,
                digest.hexdigest())

    def server_step(self, job_id: str) -> int:
        """The step the data-plane job expects next (0 before an upload)."""
        pulled = self.state[job_id][3]
        return pulled if isinstance(pulled, int) else 0

    def last_report_step(self, job_id: str) -> int:
        return controller_pb2.Job.FromString(self.state[job_id][0]).last_report_step

    # ---- one call ----------------------------------------------------------------------
    def _callable(self, method: MethodDescriptor, raw: bool) -> Any:
        key = (method.name, raw)
        if key not in self._callables:
            path = f"/{method.containing_service.full_name}/{method.name}"
            factory = {(False, False): self.channel.unary_unary, (False, True): self.channel.unary_stream,
                       (True, False): self.channel.stream_unary, (True, True): self.channel.stream_stream}[
                (method.client_streaming, method.server_streaming)]
            output = GetMessageClass(method.output_type)
            self._callables[key] = factory(path, request_serializer=None if raw else _serialize,
                                           response_deserializer=None if raw else output.FromString)
        return self._callables[key]

    def call(self, method: MethodDescriptor, request: Any, raw: bool = False) -> tuple[grpc.StatusCode, str]:
        """One call (a message, or a list of them for a client stream; bytes when `raw`),
        its answer read to the end; returns the status code and details."""
        timeout = WATCH_TIMEOUT if method.name in ENDLESS else CALL_TIMEOUT
        argument = iter(request) if method.client_streaming else request
        started = time.perf_counter()
        try:
            answer = self._callable(method, raw)(argument, timeout=timeout)
            if method.server_streaming:
                for _ in answer:
                    pass
            return grpc.StatusCode.OK, ""
        except grpc.RpcError as error:
            return error.code(), error.details() or ""
        finally:
            self.seconds += time.perf_counter() - started

    def check(self, method: MethodDescriptor, request: Any, raw: bool = False, decodes: bool = True) -> grpc.StatusCode:
        """Makes the call and asserts the fuzz property (see the module docstring). `decodes`
        says whether every raw request decodes as the method's input type: when one does not,
        the call must be refused."""
        code, details = self.call(method, request, raw)
        self.counts[(method.name, code.name)] += 1

        def where() -> str:
            return f"{method.name} -> {code.name}: {details!r}\nrequest: {_show(request)}"

        if self.server.process.poll() is not None:
            raise AssertionError(f"server exited after {where()}\n" + "".join(self.server.output[-40:]))
        health = self.health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT).status
        if health != health_pb2.HealthCheckResponse.SERVING:
            raise AssertionError(f"health {health} after {where()}")
        before, after = self.state, self.snapshot()
        if code is grpc.StatusCode.OK and ((MISSING,) in after.values() or method.name == "DeleteJob"):
            self._restore(after)
            after = self.snapshot()
        self.state = after  # the next call is judged against what is there now, even after a failure
        allowed = set(ACCEPTED)
        if method.name in ENDLESS:
            allowed.add(grpc.StatusCode.DEADLINE_EXCEEDED)
        if not decodes:
            allowed.discard(grpc.StatusCode.OK)
        if code not in allowed:
            raise AssertionError(f"unexpected status: {where()}")
        changed = {job_id: (before[job_id], after[job_id]) for job_id in after if after[job_id] != before[job_id]}
        if code is not grpc.StatusCode.OK and changed:
            raise AssertionError(f"a refused call changed job state: {where()}\nbefore/after: {changed}")
        return code


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()


def _show(request: Any) -> str:
    """A request for a failure message: text format, or raw bytes; lists item by item."""
    if isinstance(request, (list, tuple)):
        return "[\n" + ",\n".join(_show(item) for item in request) + "\n]"
    if isinstance(request, bytes):
        return repr(request[:2000])
    text = str(request)
    return text if len(text) < 4000 else text[:4000] + "..."


def decodes(method: MethodDescriptor, raw: bytes | Iterable[bytes]) -> bool:
    """Whether raw request bytes (one message, or each of a stream's) parse as the input type."""
    cls = GetMessageClass(method.input_type)
    try:
        for item in ([raw] if isinstance(raw, bytes) else raw):
            cls.FromString(item)
    except Exception:  # noqa: BLE001 - any parse failure means gRPC's deserializer refuses it too
        return False
    return True
