"""Every RPC that names a job refuses an id no job can have with INVALID_ARGUMENT on job_id,
the same answer CreateJob gives, instead of NOT_FOUND or a crash; nothing is created."""
from __future__ import annotations

from typing import Any, Callable

import grpc
import pytest

import lrctl
from lrctl.v1 import controller_pb2, controller_pb2_grpc, optimizer_pb2, optimizer_pb2_grpc, policy_pb2

pytestmark = pytest.mark.usefixtures("no_jobs_left")

BAD_IDS = ["x" * 10_000, "x" * 129, "a/b", "a\nb", "jöb", "-dash", ".dot", "a b", ""]
POLICY = policy_pb2.Policy(lr=0.1)

Call = Callable[[Any, Any, str], Any]
CALLS: dict[str, Call] = {
    "CreateJob": lambda c, o, job_id: c.CreateJob(controller_pb2.CreateJobRequest(
        job_id=job_id, spec=controller_pb2.JobSpec(policy=POLICY))),
    "GetJob": lambda c, o, job_id: c.GetJob(controller_pb2.GetJobRequest(job_id=job_id)),
    "DeleteJob": lambda c, o, job_id: c.DeleteJob(controller_pb2.DeleteJobRequest(job_id=job_id)),
    "UpdatePolicy": lambda c, o, job_id: c.UpdatePolicy(controller_pb2.UpdatePolicyRequest(
        job_id=job_id, policy=POLICY)),
    "GetLearningRate": lambda c, o, job_id: c.GetLearningRate(controller_pb2.GetLearningRateRequest(
        job_id=job_id, step=1)),
    "ReportMetrics": lambda c, o, job_id: c.ReportMetrics(controller_pb2.ReportMetricsRequest(
        job_id=job_id, step=1, metrics={"loss": 1.0})),
    "SetOverride": lambda c, o, job_id: c.SetOverride(controller_pb2.SetOverrideRequest(
        job_id=job_id, override=controller_pb2.Override(lr=0.1))),
    "ClearOverride": lambda c, o, job_id: c.ClearOverride(controller_pb2.ClearOverrideRequest(job_id=job_id)),
    "WatchJob": lambda c, o, job_id: list(c.WatchJob(controller_pb2.WatchJobRequest(job_id=job_id), timeout=10)),
    "ListJobEvents": lambda c, o, job_id: c.ListJobEvents(controller_pb2.ListJobEventsRequest(job_id=job_id)),
    "UploadParameters": lambda c, o, job_id: o.UploadParameters(iter([
        optimizer_pb2.UploadParametersRequest(header=optimizer_pb2.UploadHeader(job_id=job_id))])),
    "Step": lambda c, o, job_id: list(o.Step(iter([
        optimizer_pb2.StepRequest(header=optimizer_pb2.StepHeader(job_id=job_id, step=0))]), timeout=10)),
    "PullParameters": lambda c, o, job_id: list(o.PullParameters(
        optimizer_pb2.PullParametersRequest(job_id=job_id), timeout=10)),
    "PullRows": lambda c, o, job_id: list(o.PullRows(
        optimizer_pb2.PullRowsRequest(job_id=job_id, name="w"), timeout=10)),
    "ExportJob": lambda c, o, job_id: list(o.ExportJob(optimizer_pb2.ExportJobRequest(job_id=job_id), timeout=10)),
    "ImportJob": lambda c, o, job_id: o.ImportJob(iter([
        optimizer_pb2.ImportJobRequest(header=optimizer_pb2.ImportHeader(job_id=job_id)),
        optimizer_pb2.ImportJobRequest(data=b"not read: the id is checked first")])),
}


def _names_a_job(message: Any) -> bool:
    """The request (or the header its stream starts with) has a job_id field."""
    fields = message.fields_by_name
    return "job_id" in fields or any(
        f.message_type is not None and "job_id" in f.message_type.fields_by_name
        for f in fields.values() if f.name == "header")


def test_the_table_covers_every_method_that_names_a_job() -> None:
    methods = {method.name for pb2, service in ((controller_pb2, "Controller"), (optimizer_pb2, "Optimizer"))
               for method in pb2.DESCRIPTOR.services_by_name[service].methods
               if _names_a_job(method.input_type)}
    assert methods == set(CALLS)


@pytest.mark.parametrize("method", list(CALLS))
def test_an_impossible_job_id_is_invalid_argument(client: lrctl.Client, method: str) -> None:
    controller = controller_pb2_grpc.ControllerStub(client.channel)
    optimizer = optimizer_pb2_grpc.OptimizerStub(client.channel)
    for job_id in BAD_IDS:
        if method == "ImportJob" and not job_id:
            continue  # an empty id means "the id in the file"
        with pytest.raises(grpc.RpcError) as error:
            CALLS[method](controller, optimizer, job_id)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (job_id[:20], error.value.details())
        violations = lrctl.errors.from_rpc_error(error.value).field_violations
        assert [field for field, _ in violations] == ["job_id"], violations
    assert list(client.jobs()) == []
