"""Every row of the access table against a real server, through raw gRPC: who may call what,
with which status code, and that a refused call changed nothing."""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator, NamedTuple

import grpc
import numpy as np
import pytest

import lrctl
from lrctl.protocol import chunk_messages
from lrctl.server.auth import ACCESS, Access
from lrctl.tensors import to_chunks
from lrctl.v1 import controller_pb2, controller_pb2_grpc, optimizer_pb2, optimizer_pb2_grpc, policy_pb2
from tests.security.conftest import ADMIN, SGD_JOB

TIMEOUT = 5
TABLE = "table"
PARAMS = {"w": np.arange(4, dtype=np.float32), TABLE: np.arange(6, dtype=np.float32).reshape(3, 2)}
SPEC = controller_pb2.JobSpec(policy=policy_pb2.Policy(lr=0.1))
CASES = ("admin", "own", "other", "none", "garbage", "malformed")
METADATA = {"none": (), "garbage": (("authorization", "Bearer lrj_not-a-token-this-server-issued"),),
            "malformed": (("authorization", "Basic " + ADMIN),)}


class Stubs(NamedTuple):
    controller: controller_pb2_grpc.ControllerStub
    optimizer: optimizer_pb2_grpc.OptimizerStub
    diagnostics: controller_pb2_grpc.DiagnosticsStub


class Target(NamedTuple):
    job_id: str
    exported: bytes


def _chunks(message: Any) -> list[Any]:
    return [message.FromString(chunk_messages.encode(chunk)) for chunk in to_chunks(PARAMS, "float32", 1 << 20, {})]


def _upload(s: Stubs, t: Target, md: Any) -> Any:
    header = optimizer_pb2.UploadParametersRequest(header=optimizer_pb2.UploadHeader(job_id=t.job_id))
    return s.optimizer.UploadParameters(iter([header, *_chunks(optimizer_pb2.UploadParametersRequest)]),
                                        metadata=md, timeout=TIMEOUT)


def _step(s: Stubs, t: Target, md: Any) -> Any:
    header = optimizer_pb2.StepRequest(header=optimizer_pb2.StepHeader(job_id=t.job_id, step=0))
    return list(s.optimizer.Step(iter([header, *_chunks(optimizer_pb2.StepRequest)]), metadata=md, timeout=TIMEOUT))


def _import(s: Stubs, t: Target, md: Any) -> Any:
    new_id = f"imported-{uuid.uuid4().hex[:8]}"
    header = optimizer_pb2.ImportJobRequest(header=optimizer_pb2.ImportHeader(job_id=new_id))
    return s.optimizer.ImportJob(iter([header, optimizer_pb2.ImportJobRequest(data=t.exported)]),
                                 metadata=md, timeout=TIMEOUT)


def _watch(s: Stubs, t: Target, md: Any) -> Any:
    call = s.controller.WatchJob(controller_pb2.WatchJobRequest(job_id=t.job_id), metadata=md, timeout=TIMEOUT)
    first = next(call)
    call.cancel()
    return first


C = "/lrctl.v1.Controller/"
CALLS: dict[str, Callable[[Stubs, Target, Any], Any]] = {
    C + "CreateJob": lambda s, t, md: s.controller.CreateJob(controller_pb2.CreateJobRequest(
        job_id=f"new-{uuid.uuid4().hex[:8]}", spec=SPEC), metadata=md, timeout=TIMEOUT),
    C + "GetJob": lambda s, t, md: s.controller.GetJob(controller_pb2.GetJobRequest(job_id=t.job_id),
                                                       metadata=md, timeout=TIMEOUT),
    C + "ListJobs": lambda s, t, md: s.controller.ListJobs(controller_pb2.ListJobsRequest(), metadata=md,
                                                           timeout=TIMEOUT),
    C + "DeleteJob": lambda s, t, md: s.controller.DeleteJob(controller_pb2.DeleteJobRequest(job_id=t.job_id),
                                                             metadata=md, timeout=TIMEOUT),
    C + "UpdatePolicy": lambda s, t, md: s.controller.UpdatePolicy(controller_pb2.UpdatePolicyRequest(
        job_id=t.job_id, policy=policy_pb2.Policy(lr=0.25), reason="test"), metadata=md, timeout=TIMEOUT),
    C + "GetLearningRate": lambda s, t, md: s.controller.GetLearningRate(controller_pb2.GetLearningRateRequest(
        job_id=t.job_id, step=0, horizon=4), metadata=md, timeout=TIMEOUT),
    C + "ReportMetrics": lambda s, t, md: s.controller.ReportMetrics(controller_pb2.ReportMetricsRequest(
        job_id=t.job_id, step=1, metrics={"loss": 1.0}), metadata=md, timeout=TIMEOUT),
    C + "SetOverride": lambda s, t, md: s.controller.SetOverride(controller_pb2.SetOverrideRequest(
        job_id=t.job_id, override=controller_pb2.Override(lr=0.01, reason="test")), metadata=md, timeout=TIMEOUT),
    C + "ClearOverride": lambda s, t, md: s.controller.ClearOverride(controller_pb2.ClearOverrideRequest(
        job_id=t.job_id, reason="test"), metadata=md, timeout=TIMEOUT),
    C + "WatchJob": _watch,
    C + "ListJobEvents": lambda s, t, md: s.controller.ListJobEvents(controller_pb2.ListJobEventsRequest(
        job_id=t.job_id), metadata=md, timeout=TIMEOUT),
    C + "PreviewSchedule": lambda s, t, md: s.controller.PreviewSchedule(controller_pb2.PreviewScheduleRequest(
        policy=policy_pb2.Policy(lr=0.1), steps=3), metadata=md, timeout=TIMEOUT),
    "/lrctl.v1.Optimizer/UploadParameters": _upload,
    "/lrctl.v1.Optimizer/Step": _step,
    "/lrctl.v1.Optimizer/PullParameters": lambda s, t, md: list(s.optimizer.PullParameters(
        optimizer_pb2.PullParametersRequest(job_id=t.job_id), metadata=md, timeout=TIMEOUT)),
    "/lrctl.v1.Optimizer/PullRows": lambda s, t, md: list(s.optimizer.PullRows(
        optimizer_pb2.PullRowsRequest(job_id=t.job_id, name=TABLE, rows=bytes(8)), metadata=md, timeout=TIMEOUT)),
    "/lrctl.v1.Optimizer/ExportJob": lambda s, t, md: list(s.optimizer.ExportJob(
        optimizer_pb2.ExportJobRequest(job_id=t.job_id), metadata=md, timeout=TIMEOUT)),
    "/lrctl.v1.Optimizer/ImportJob": _import,
    "/lrctl.v1.Diagnostics/Echo": lambda s, t, md: s.diagnostics.Echo(controller_pb2.EchoMessage(payload=b"x"),
                                                                      metadata=md, timeout=TIMEOUT),
    "/lrctl.v1.Diagnostics/EchoStream": lambda s, t, md: list(s.diagnostics.EchoStream(
        iter([controller_pb2.EchoMessage(payload=b"x")]), metadata=md, timeout=TIMEOUT)),
}


def expected_code(access: Access, case: str) -> grpc.StatusCode:
    if case in METADATA:
        return grpc.StatusCode.UNAUTHENTICATED
    if case == "admin":
        return grpc.StatusCode.OK
    if case == "own":
        return grpc.StatusCode.PERMISSION_DENIED if access is Access.ADMIN else grpc.StatusCode.OK
    return grpc.StatusCode.OK if access is Access.ANY_TOKEN else grpc.StatusCode.PERMISSION_DENIED


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture(scope="module")
def stubs(server) -> Iterator[Stubs]:
    with grpc.insecure_channel(server.address) as channel:
        yield Stubs(controller_pb2_grpc.ControllerStub(channel), optimizer_pb2_grpc.OptimizerStub(channel),
                    controller_pb2_grpc.DiagnosticsStub(channel))


def _data_job(admin: lrctl.Client, job_id: str) -> lrctl.Job:
    job = admin.create_job(job_id, SGD_JOB["policy"], optimizer=SGD_JOB["optimizer"])
    job.init_params(PARAMS)
    return job


@pytest.fixture(scope="module")
def victims(admin, tmp_path_factory) -> tuple[lrctl.Job, lrctl.Job, bytes]:
    """Jobs "a" and "b" with parameters on the server, and an export file's bytes."""
    a, b = _data_job(admin, "a"), _data_job(admin, "b")
    path = tmp_path_factory.mktemp("export") / "a.npz"
    a.export(path)
    return a, b, path.read_bytes()


def _state(admin: lrctl.Client) -> tuple:
    """Everything a refused call could have changed: every job as the server reports it, and
    the parameters of the jobs the refused calls name."""
    jobs = [job.SerializeToString(deterministic=True) for job in admin.jobs()]
    pulled = [admin.job(job_id).pull() for job_id in ("a", "b")]
    return jobs, [(p.step, {name: value.tobytes() for name, value in p.params.items()}) for p in pulled]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", sorted(ACCESS))
def test_access_table(method, case, admin, stubs, victims):
    a, b, exported = victims
    access = ACCESS[method]
    code = expected_code(access, case)
    if case in ("admin", "own"):
        scratch = _data_job(admin, f"scratch-{uuid.uuid4().hex[:8]}")
        target, metadata = Target(scratch.job_id, exported), bearer(ADMIN if case == "admin" else scratch.token)
    else:
        target, metadata = Target(a.job_id, exported), METADATA[case] if case in METADATA else bearer(b.token)
    before = _state(admin) if code != grpc.StatusCode.OK else None
    try:
        CALLS[method](stubs, target, metadata)
        got, message = grpc.StatusCode.OK, ""
    except grpc.RpcError as error:
        got, message = error.code(), error.details()
    assert got == code, f"{method} with {case}: {got} {message}"
    if before is not None:
        assert _state(admin) == before, f"refused {method} changed the server's state"


def test_refusals_name_the_reason(stubs, victims):
    a, b, exported = victims
    get = CALLS[C + "GetJob"]
    cases = {"none": "missing bearer token", "garbage": "invalid bearer token", "malformed": "must be 'Bearer <token>'"}
    for case, text in cases.items():
        with pytest.raises(grpc.RpcError) as refused:
            get(stubs, Target("a", exported), METADATA[case])
        assert text in refused.value.details()
    with pytest.raises(grpc.RpcError) as refused:
        get(stubs, Target("a", exported), bearer(b.token))
    assert refused.value.details() == "this token grants job 'b' only, not 'a'"
    with pytest.raises(grpc.RpcError) as refused:
        CALLS[C + "ListJobs"](stubs, Target("a", exported), bearer(b.token))
    assert "needs an admin token" in refused.value.details()


def test_health_and_reflection_need_no_token(server, stubs):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    assert server.health() == 1  # SERVING
    with grpc.insecure_channel(server.address) as channel:
        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=TIMEOUT)
        names = {s.name for s in next(replies).list_services_response.service}
    assert "lrctl.v1.Controller" in names


def test_sdk_handles_carry_the_token(server, admin, victims, tmp_path):
    a, b, exported = victims
    assert a.token.startswith("lrj_") and a.token != b.token
    assert admin.job("a").token is None
    with lrctl.Client(server.address, token=a.token) as own:
        assert own.job("a").lr(0) == 0.5
        with pytest.raises(lrctl.PermissionDenied):
            own.job("b").lr(0)
    path = tmp_path / "a.npz"
    path.write_bytes(exported)
    imported = admin.import_job(path, "a-imported")
    with lrctl.Client(server.address, token=imported.token) as own:
        assert own.job("a-imported").pull().step == a.pull().step
        with pytest.raises(lrctl.PermissionDenied):
            own.job("a").pull()


def test_idempotent_replay_issues_another_working_token_up_to_the_limit(admin, stubs):
    request = controller_pb2.CreateJobRequest(job_id="replayed", spec=SPEC, idempotency_key="rank-key")
    create = lambda: stubs.controller.CreateJob(request, metadata=bearer(ADMIN), timeout=TIMEOUT)  # noqa: E731
    first, second = create(), create()
    assert first.token and second.token and first.token != second.token
    for token in (first.token, second.token):
        assert stubs.controller.GetJob(controller_pb2.GetJobRequest(job_id="replayed"), metadata=bearer(token),
                                       timeout=TIMEOUT).job_id == "replayed"
    other_spec = controller_pb2.CreateJobRequest(job_id="replayed", spec=controller_pb2.JobSpec(
        policy=policy_pb2.Policy(lr=0.2)), idempotency_key="rank-key")
    with pytest.raises(grpc.RpcError) as taken:
        stubs.controller.CreateJob(other_spec, metadata=bearer(ADMIN), timeout=TIMEOUT)
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS
    for _ in range(62):
        create()
    with pytest.raises(grpc.RpcError) as limited:
        create()
    assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "64 tokens" in limited.value.details()
    assert admin.job("replayed").info().version == 1


def test_deleting_a_job_revokes_its_tokens(server, admin):
    old = admin.create_job("short-lived", {"lr": 0.1})
    with lrctl.Client(server.address, token=old.token) as client:
        assert client.job("short-lived").info().job_id == "short-lived"  # now cached as valid
        admin.delete_job("short-lived")
        with pytest.raises(lrctl.Unauthenticated):
            client.job("short-lived").info()
        new = admin.create_job("short-lived", {"lr": 0.1})
        with pytest.raises(lrctl.Unauthenticated):
            client.job("short-lived").info()
    with lrctl.Client(server.address, token=new.token) as client:
        assert client.job("short-lived").info().job_id == "short-lived"


def test_refused_calls_are_counted_with_their_codes(server, stubs, victims):
    import urllib.request

    with pytest.raises(grpc.RpcError):
        CALLS[C + "ListJobs"](stubs, Target("a", b""), ())
    text = urllib.request.urlopen(server.metrics_url, timeout=TIMEOUT).read().decode()
    counted = [line for line in text.splitlines() if line.startswith("grpc_server_handled_total{")
               and 'grpc_method="ListJobs"' in line and 'grpc_code="Unauthenticated"' in line]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1
