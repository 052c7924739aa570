"""Job, event and override messages <-> the jobs layer's domain values."""
from __future__ import annotations

import math
from dataclasses import replace

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from lrctl.server import policies
from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.jobs import JobEvent, JobSpec, JobView, Workers
from lrctl.server.service.optimizer_codec import optimizer_from_proto
from lrctl.server.service.policy_codec import policy_from_proto
from lrctl.v1 import controller_pb2, optimizer_pb2, policy_pb2

EVENT_KIND_PREFIX = "EVENT_KIND_"

EVENT_KINDS: dict[str, int] = {
    kind: controller_pb2.EventKind.Value(EVENT_KIND_PREFIX + kind.upper()) for kind in policies.JOB_EVENT_KINDS}
"""Domain event kind -> EventKind value, by the naming rule of policies/events.py (a domain
kind without its enum value fails here, at import)."""


def parse_policy(policy: policy_pb2.Policy, path: str) -> policies.Policy:
    """Validates a Policy message; violations are reported under `path` (the request field)."""
    try:
        return policy_from_proto(policy)
    except InvalidArgument as error:
        raise error.under(path) from None


def spec_from_proto(spec: controller_pb2.JobSpec) -> JobSpec:
    """Validates and parses the JobSpec of a CreateJob request (policy and optimizer errors together)."""
    violations = []
    try:
        policy = parse_policy(spec.policy, "spec.policy")
    except InvalidArgument as error:
        violations += error.violations
    optimizer, every, workers = None, 0, Workers()
    if spec.HasField("optimizer"):
        try:
            optimizer, every = optimizer_from_proto(spec.optimizer)
        except InvalidArgument as error:
            violations += error.under("spec.optimizer").violations
        try:
            workers = workers_from_proto(spec.optimizer)
        except InvalidArgument as error:
            violations += error.under("spec.optimizer").violations
    if violations:
        raise InvalidArgument(violations)
    document = json_format.MessageToJson(spec, preserving_proto_field_name=True, sort_keys=True, indent=None)
    return JobSpec(policy, document, optimizer, every, workers)


def workers_from_proto(spec: optimizer_pb2.OptimizerSpec) -> Workers:
    """The data-parallel settings of an OptimizerSpec; unset fields take the defaults."""
    settings = {"count": spec.workers} if spec.workers else {}
    if spec.gradient_reduction:
        settings["reduction"] = spec.gradient_reduction
    if spec.HasField("step_timeout_seconds"):
        settings["step_timeout_seconds"] = spec.step_timeout_seconds
    return Workers(**settings)


def spec_with_policy(spec: JobSpec, policy: policy_pb2.Policy) -> JobSpec:
    """The spec of an UpdatePolicy: the job's spec with its policy replaced."""
    parsed = parse_policy(policy, "policy")
    message = json_format.Parse(spec.document, controller_pb2.JobSpec())
    message.policy.CopyFrom(policy)
    document = json_format.MessageToJson(message, preserving_proto_field_name=True, sort_keys=True, indent=None)
    return replace(spec, policy=parsed, document=document)


def spec_from_document(document: str) -> JobSpec:
    """Parses a stored or imported spec (JobSpec in protobuf's JSON mapping)."""
    try:
        message = json_format.Parse(document, controller_pb2.JobSpec())
    except json_format.ParseError as error:
        raise InvalidArgument(FieldViolation("spec", f"not a JobSpec: {error}")) from None
    return spec_from_proto(message)


def override_from_proto(override: controller_pb2.Override) -> policies.Override:
    kind = override.WhichOneof("value")
    if kind is None:
        raise InvalidArgument(FieldViolation("override.value", "set exactly one of lr or scale"))
    value = getattr(override, kind)
    if not (math.isfinite(value) and value > 0):  # -0.0 and 0 too: an LR of 0 is no override
        raise InvalidArgument(FieldViolation(f"override.{kind}", f"must be finite and > 0, got {value}"))
    return policies.Override(lr=value if kind == "lr" else None, scale=value if kind == "scale" else None,
                             until_step=override.until_step, reason=override.reason)


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def job_to_proto(view: JobView) -> controller_pb2.Job:
    state = view.state
    job = controller_pb2.Job(
        job_id=view.job_id,
        spec=json_format.Parse(view.spec.document, controller_pb2.JobSpec()),
        state=controller_pb2.JOB_STATE_STOPPED if view.should_stop else controller_pb2.JOB_STATE_ACTIVE,
        version=view.version,
        policy_version=view.policy_version,
        last_report_step=max(state.last_report_step, 0),
        create_time=_timestamp(view.create_time),
        update_time=_timestamp(view.update_time),
        skipped_nonfinite_metrics=view.skipped_nonfinite_metrics,
        current_lr=view.lr_at(max(state.last_report_step, 0)),
    )
    plateau = state.plateau
    job.plateau.CopyFrom(controller_pb2.PlateauState(
        best=plateau.best, num_bad_reports=plateau.num_bad_reports, num_good_reports=plateau.num_good_reports,
        cooldown_counter=plateau.cooldown_counter, reductions=plateau.reductions, increases=plateau.increases,
        scale=plateau.scale))
    stopping = state.early_stopping
    job.early_stopping.CopyFrom(controller_pb2.EarlyStoppingState(
        best=stopping.best, wait=stopping.wait, should_stop=stopping.should_stop,
        stopped_step=stopping.stopped_step or 0))
    if state.override is not None:
        override = state.override
        job.override.CopyFrom(controller_pb2.Override(until_step=override.until_step, reason=override.reason))
        if override.lr is not None:
            job.override.lr = override.lr
        else:
            job.override.scale = override.scale
    return job


def preview_event_to_proto(event: policies.Event) -> controller_pb2.JobEvent:
    return controller_pb2.JobEvent(kind=EVENT_KINDS[event.kind], step=event.step, lr=event.lr, count=event.count,
                                   first_step=event.step if event.first_step is None else event.first_step)


def event_to_proto(event: JobEvent) -> controller_pb2.JobEvent:
    return controller_pb2.JobEvent(job_id=event.job_id, version=event.version, kind=EVENT_KINDS[event.kind],
                                   step=event.step, lr=event.lr, reason=event.reason,
                                   time=_timestamp(event.time), metrics=event.metrics, count=event.count,
                                   first_step=event.step if event.first_step is None else event.first_step)
