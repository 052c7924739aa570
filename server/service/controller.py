"""The Controller servicer: protos in, jobs layer calls (off the event loop), protos out.

No business logic here. Every call that may block (store I/O, policy math, proto building
from a job) runs on the control-plane pool; a GetLearningRate that the lease cache answers
from memory is served on the loop, which is what keeps it close to an empty echo.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import AsyncIterator

import grpc

from lrctl.server import policies
from lrctl.server.errors import FieldViolation, InvalidArgument, NotFound, ResourceExhausted, Unavailable
from lrctl.server.jobs import JobRegistry, issue_job_token
from lrctl.server.offload import Offload
from lrctl.server.policies.metrics_read import unused_metrics
from lrctl.server.service.job_codec import (
    event_to_proto,
    job_to_proto,
    override_from_proto,
    parse_policy,
    preview_event_to_proto,
    spec_from_proto,
    spec_with_policy,
)
from lrctl.server.service.status import translated
from lrctl.v1 import controller_pb2, controller_pb2_grpc


def _page_token(job_id: str) -> str:
    return base64.urlsafe_b64encode(job_id.encode()).decode()


def _after_job_id(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode() if token else ""
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(FieldViolation("page_token", "not a token this server issued")) from None


MAX_PAGE_BYTES = 1 << 20
"""A listing page stops before this many bytes (at least one entry): the page size in entries
alone would let a page of large specs pass the message limit."""


def _within_page_bytes(entries: list) -> list:
    """The leading entries of a page that fit MAX_PAGE_BYTES (at least one); a caller asks for
    the next page from the last one returned."""
    total = 0
    for count, entry in enumerate(entries):
        total += entry.ByteSize()
        if total > MAX_PAGE_BYTES and count:
            return entries[:count]
    return entries


class LoopWake:
    """A WatchJob's wake-up: set from any thread (a commit on a pool thread), awaited on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the loop is closed: the watch is over anyway
            pass

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float | None = None) -> bool:
        """Waits to be woken, at most `timeout` seconds (None: forever); True when woken."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


class PreviewGate:
    """What PreviewSchedule may run at once: one preview per caller (its bearer token, or its
    connection without one), and `at_once` in all, the rest waiting without a thread, so
    previews (up to 100,000 steps each) never take the pool GetLearningRate and reports need."""

    def __init__(self, at_once: int) -> None:
        self._slots = asyncio.Semaphore(at_once)
        self._callers: set[str] = set()

    @contextlib.asynccontextmanager
    async def admitted(self, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        caller = next((value for key, value in context.invocation_metadata() or () if key == "authorization"),
                      context.peer())
        if caller in self._callers:
            raise ResourceExhausted("preview limit: one PreviewSchedule at a time per caller (a token, or a "
                                    "connection without one); wait for the first")
        self._callers.add(caller)
        try:
            async with self._slots:
                yield
        finally:
            self._callers.discard(caller)


class ControllerService(controller_pb2_grpc.ControllerServicer):
    def __init__(self, jobs: JobRegistry, offload: Offload, previews: PreviewGate) -> None:
        self._jobs = jobs
        self._offload = offload
        self._previews = previews

    @translated
    async def CreateJob(self, request: controller_pb2.CreateJobRequest,
                        context: grpc.aio.ServicerContext) -> controller_pb2.Job:
        def create() -> controller_pb2.Job:
            token, token_hash = issue_job_token()
            job = job_to_proto(self._jobs.create(request.job_id, spec_from_proto(request.spec), request.idempotency_key,
                                                 token_hash=token_hash))
            job.token = token
            return job
        return await self._offload.control(create)

    @translated
    async def GetJob(self, request: controller_pb2.GetJobRequest, context: grpc.aio.ServicerContext) -> controller_pb2.Job:
        return await self._offload.control(lambda: job_to_proto(self._jobs.get(request.job_id)))

    @translated
    async def ListJobs(self, request: controller_pb2.ListJobsRequest,
                       context: grpc.aio.ServicerContext) -> controller_pb2.ListJobsResponse:
        def page() -> controller_pb2.ListJobsResponse:
            page_size = min(request.page_size or 100, self._jobs.limits.max_page_size)
            views = self._jobs.list(_after_job_id(request.page_token), page_size)
            jobs = _within_page_bytes([job_to_proto(v) for v in views])
            token = _page_token(jobs[-1].job_id) if len(jobs) < len(views) or len(views) == page_size else ""
            return controller_pb2.ListJobsResponse(jobs=jobs, next_page_token=token)
        return await self._offload.control(page)

    @translated
    async def DeleteJob(self, request: controller_pb2.DeleteJobRequest,
                        context: grpc.aio.ServicerContext) -> controller_pb2.DeleteJobResponse:
        await self._offload.control(self._jobs.delete, request.job_id)
        return controller_pb2.DeleteJobResponse()

    @translated
    async def UpdatePolicy(self, request: controller_pb2.UpdatePolicyRequest,
                           context: grpc.aio.ServicerContext) -> controller_pb2.Job:
        def update() -> controller_pb2.Job:
            spec = spec_with_policy(self._jobs.get(request.job_id).spec, request.policy)
            return job_to_proto(self._jobs.update_policy(request.job_id, spec, request.expected_policy_version,
                                                         request.reason))
        return await self._offload.control(update)

    @translated
    async def GetLearningRate(self, request: controller_pb2.GetLearningRateRequest,
                              context: grpc.aio.ServicerContext) -> controller_pb2.GetLearningRateResponse:
        answer = self._jobs.learning_rates_if_cheap(request.job_id, request.step, request.horizon)
        if answer is None:
            answer = await self._offload.control(self._jobs.learning_rates, request.job_id, request.step,
                                                 request.horizon)
        lrs, view = answer
        values = lrs.tolist()  # one C-level conversion; protobuf would box each numpy scalar
        return controller_pb2.GetLearningRateResponse(lr=values[0], lrs=values, version=view.version,
                                                      should_stop=view.should_stop)

    @translated
    async def ReportMetrics(self, request: controller_pb2.ReportMetricsRequest,
                            context: grpc.aio.ServicerContext) -> controller_pb2.ReportMetricsResponse:
        decision = await self._offload.control(self._jobs.report, request.job_id, request.step, dict(request.metrics))
        view = self._jobs.cached(request.job_id)  # the report loaded it: no I/O on the loop
        unused = unused_metrics(view.spec.policy, request.metrics) if view is not None else ()
        return controller_pb2.ReportMetricsResponse(
            lr=decision.lr, should_stop=decision.should_stop, version=decision.version,
            events=[event_to_proto(e) for e in decision.events], duplicate_metrics=decision.duplicate_metrics,
            unused_metrics=unused)

    @translated
    async def SetOverride(self, request: controller_pb2.SetOverrideRequest,
                          context: grpc.aio.ServicerContext) -> controller_pb2.Job:
        override = override_from_proto(request.override)
        return await self._offload.control(lambda: job_to_proto(self._jobs.set_override(request.job_id, override)))

    @translated
    async def ClearOverride(self, request: controller_pb2.ClearOverrideRequest,
                            context: grpc.aio.ServicerContext) -> controller_pb2.Job:
        return await self._offload.control(
            lambda: job_to_proto(self._jobs.clear_override(request.job_id, request.reason)))

    @translated
    async def WatchJob(self, request: controller_pb2.WatchJobRequest,
                       context: grpc.aio.ServicerContext) -> AsyncIterator[controller_pb2.JobEvent]:
        """Every stored event after since_version, then each new one, in version order: the
        stream reads the store after every wake-up, from the last version it sent. With
        replicas a commit elsewhere wakes it through the store's change feed; while that feed
        is not known complete, the stream reads the store every recheck_seconds anyway."""
        wake = LoopWake(asyncio.get_running_loop())
        view = await self._offload.control(self._jobs.watch, request.job_id, wake)
        page = self._jobs.limits.max_page_size
        try:
            last = request.since_version
            while True:
                wake.clear()
                if self._jobs.closing:
                    raise Unavailable("the server is shutting down: watch again")
                try:
                    events = await self._offload.control(self._jobs.events, request.job_id, last, page,
                                                         view.create_time)
                except NotFound:
                    return  # the job was deleted: the watch is complete
                for event in events:
                    last = event.version
                    yield event_to_proto(event)
                if len(events) < page:
                    while not await wake.wait(self._jobs.recheck_seconds) and self._jobs.coherent():
                        pass
        finally:
            self._jobs.unwatch(request.job_id, wake)

    @translated
    async def ListJobEvents(self, request: controller_pb2.ListJobEventsRequest,
                            context: grpc.aio.ServicerContext) -> controller_pb2.ListJobEventsResponse:
        events = await self._offload.control(self._jobs.events, request.job_id, request.since_version,
                                             request.page_size)
        return controller_pb2.ListJobEventsResponse(events=_within_page_bytes([event_to_proto(e) for e in events]))

    @translated
    async def PreviewSchedule(self, request: controller_pb2.PreviewScheduleRequest,
                              context: grpc.aio.ServicerContext) -> controller_pb2.PreviewScheduleResponse:
        if request.steps == 0:
            raise InvalidArgument(FieldViolation("steps", "must be at least 1"))
        if request.steps > self._jobs.limits.max_horizon:
            raise ResourceExhausted(f"steps {request.steps} is over the limit of {self._jobs.limits.max_horizon}")

        def preview() -> controller_pb2.PreviewScheduleResponse:
            policy = parse_policy(request.policy, "policy")
            metrics = {point.step: dict(point.metrics) for point in request.metrics}
            result = policies.preview(policy, request.steps, metrics)
            return controller_pb2.PreviewScheduleResponse(
                lrs=result.lrs.tolist(), events=[preview_event_to_proto(e) for e in result.events],
                stop_step=result.stop_step,
                unused_metrics=unused_metrics(policy, {name for point in request.metrics for name in point.metrics}))
        async with self._previews.admitted(context):
            return await self._offload.control(preview)
