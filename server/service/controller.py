"""The Controller servicer: protos in, jobs layer calls, protos out. No business logic here."""
from __future__ import annotations

import base64
import queue
from typing import Iterator

import grpc

from lrctl.server import policies
from lrctl.server.auth import issue_job_token
from lrctl.server.errors import FieldViolation, InvalidArgument, ResourceExhausted, Unavailable
from lrctl.server.jobs import JobRegistry
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

WATCH_POLL_SECONDS = 1.0


def _page_token(job_id: str) -> str:
    return base64.urlsafe_b64encode(job_id.encode()).decode()


def _after_job_id(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode() if token else ""
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(FieldViolation("page_token", "not a token this server issued")) from None


class ControllerService(controller_pb2_grpc.ControllerServicer):
    def __init__(self, jobs: JobRegistry) -> None:
        self._jobs = jobs

    @translated
    def CreateJob(self, request: controller_pb2.CreateJobRequest, context: grpc.ServicerContext) -> controller_pb2.Job:
        spec = spec_from_proto(request.spec)
        token, token_hash = issue_job_token()
        job = job_to_proto(self._jobs.create(request.job_id, spec, request.idempotency_key, token_hash=token_hash))
        job.token = token
        return job

    @translated
    def GetJob(self, request: controller_pb2.GetJobRequest, context: grpc.ServicerContext) -> controller_pb2.Job:
        return job_to_proto(self._jobs.get(request.job_id))

    @translated
    def ListJobs(self, request: controller_pb2.ListJobsRequest,
                 context: grpc.ServicerContext) -> controller_pb2.ListJobsResponse:
        page_size = min(request.page_size or 100, self._jobs.limits.max_page_size)
        views = self._jobs.list(_after_job_id(request.page_token), page_size)
        token = _page_token(views[-1].job_id) if len(views) == page_size else ""
        return controller_pb2.ListJobsResponse(jobs=[job_to_proto(v) for v in views], next_page_token=token)

    @translated
    def DeleteJob(self, request: controller_pb2.DeleteJobRequest,
                  context: grpc.ServicerContext) -> controller_pb2.DeleteJobResponse:
        self._jobs.delete(request.job_id)
        return controller_pb2.DeleteJobResponse()

    @translated
    def UpdatePolicy(self, request: controller_pb2.UpdatePolicyRequest,
                     context: grpc.ServicerContext) -> controller_pb2.Job:
        spec = spec_with_policy(self._jobs.get(request.job_id).spec, request.policy)
        return job_to_proto(self._jobs.update_policy(request.job_id, spec, request.expected_policy_version,
                                                     request.reason))

    @translated
    def GetLearningRate(self, request: controller_pb2.GetLearningRateRequest,
                        context: grpc.ServicerContext) -> controller_pb2.GetLearningRateResponse:
        lrs, view = self._jobs.learning_rates(request.job_id, request.step, request.horizon)
        values = lrs.tolist()  # one C-level conversion; protobuf would box each numpy scalar
        return controller_pb2.GetLearningRateResponse(lr=values[0], lrs=values, version=view.version,
                                                      should_stop=view.should_stop)

    @translated
    def ReportMetrics(self, request: controller_pb2.ReportMetricsRequest,
                      context: grpc.ServicerContext) -> controller_pb2.ReportMetricsResponse:
        decision = self._jobs.report(request.job_id, request.step, dict(request.metrics))
        unused = unused_metrics(self._jobs.get(request.job_id).spec.policy, request.metrics)
        return controller_pb2.ReportMetricsResponse(
            lr=decision.lr, should_stop=decision.should_stop, version=decision.version,
            events=[event_to_proto(e) for e in decision.events], duplicate_metrics=decision.duplicate_metrics,
            unused_metrics=unused)

    @translated
    def SetOverride(self, request: controller_pb2.SetOverrideRequest,
                    context: grpc.ServicerContext) -> controller_pb2.Job:
        return job_to_proto(self._jobs.set_override(request.job_id, override_from_proto(request.override)))

    @translated
    def ClearOverride(self, request: controller_pb2.ClearOverrideRequest,
                      context: grpc.ServicerContext) -> controller_pb2.Job:
        return job_to_proto(self._jobs.clear_override(request.job_id, request.reason))

    @translated
    def WatchJob(self, request: controller_pb2.WatchJobRequest,
                 context: grpc.ServicerContext) -> Iterator[controller_pb2.JobEvent]:
        subscription = self._jobs.subscribe(request.job_id)
        # A cancelled or vanished watcher wakes the loop at once, freeing its watcher slot.
        context.add_callback(lambda: subscription.events.put(None))
        try:
            last = request.since_version
            for event in self._jobs.events(request.job_id, last, self._jobs.limits.max_page_size):
                last = event.version
                yield event_to_proto(event)
            while context.is_active():
                if self._jobs.closing:
                    raise Unavailable("the server is shutting down: watch again")
                try:
                    event = subscription.events.get(timeout=WATCH_POLL_SECONDS)
                except queue.Empty:
                    continue
                if event is None:
                    if self._jobs.closing:
                        continue
                    return  # the job was deleted, or the watcher went away
                if event.version > last:
                    last = event.version
                    yield event_to_proto(event)
        finally:
            self._jobs.unsubscribe(request.job_id, subscription)

    @translated
    def ListJobEvents(self, request: controller_pb2.ListJobEventsRequest,
                      context: grpc.ServicerContext) -> controller_pb2.ListJobEventsResponse:
        events = self._jobs.events(request.job_id, request.since_version, request.page_size)
        return controller_pb2.ListJobEventsResponse(events=[event_to_proto(e) for e in events])

    @translated
    def PreviewSchedule(self, request: controller_pb2.PreviewScheduleRequest,
                        context: grpc.ServicerContext) -> controller_pb2.PreviewScheduleResponse:
        if request.steps == 0:
            raise InvalidArgument(FieldViolation("steps", "must be at least 1"))
        if request.steps > self._jobs.limits.max_horizon:
            raise ResourceExhausted(f"steps {request.steps} is over the limit of {self._jobs.limits.max_horizon}")
        policy = parse_policy(request.policy, "policy")
        metrics = {point.step: dict(point.metrics) for point in request.metrics}
        preview = policies.preview(policy, request.steps, metrics)
        return controller_pb2.PreviewScheduleResponse(
            lrs=preview.lrs.tolist(),
            events=[preview_event_to_proto(e) for e in preview.events],
            stop_step=preview.stop_step,
            unused_metrics=unused_metrics(policy, {name for point in request.metrics for name in point.metrics}))
