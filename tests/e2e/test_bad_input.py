"""DESIGN §7, control-plane rows: each bad input gets its precise status and changes nothing."""
from __future__ import annotations

import math

import grpc
import pytest

import lrctl
from lrctl.v1 import controller_pb2, controller_pb2_grpc, policy_pb2
from tests.support.server_process import ServerProcess

PLATEAU = {"lr": 0.1, "plateau": {"metric": "val_loss", "patience": 1}}


@pytest.fixture(scope="module")
def stub(server: ServerProcess) -> controller_pb2_grpc.ControllerStub:
    return controller_pb2_grpc.ControllerStub(grpc.insecure_channel(server.address))


def unchanged(job: lrctl.Job, before: controller_pb2.Job) -> None:
    after = job.info()
    assert (after.version, after.policy_version, after.plateau, after.last_report_step) == \
        (before.version, before.policy_version, before.plateau, before.last_report_step)


@pytest.mark.parametrize("call", [
    lambda c: c.get_job("nope"),
    lambda c: c.job("nope").lr(0),
    lambda c: c.job("nope").report(1, val_loss=1.0),
    lambda c: c.job("nope").override(lr=0.1, reason="x"),
    lambda c: c.job("nope").clear_override(reason="x"),
    lambda c: c.job("nope").update_policy({"lr": 0.1}),
    lambda c: c.job("nope").events(),
    lambda c: list(c.job("nope").watch(timeout=5)),
    lambda c: c.delete_job("nope"),
])
def test_unknown_job_is_not_found(client: lrctl.Client, call) -> None:
    with pytest.raises(lrctl.NotFound):
        call(client)


def test_taken_id_is_already_exists_unless_same_spec_and_key(client: lrctl.Client) -> None:
    client.create_job("taken", PLATEAU, idempotency_key="a")
    before = client.job("taken").info()
    with pytest.raises(lrctl.AlreadyExists):
        client.create_job("taken", PLATEAU, idempotency_key="b")
    client.create_job("taken", PLATEAU, idempotency_key="a")
    unchanged(client.job("taken"), before)


@pytest.mark.parametrize("policy, field", [
    ({"lr": 0.1, "plateau": {"metric": "val_loss", "factor": 1.0}}, "spec.policy.plateau.factor"),
    ({"lr": 0.1, "plateau": {"metric": "val_loss", "factor": 1.5}}, "spec.policy.plateau.factor"),
    ({"lr": 0.1, "plateau": {"metric": "val_loss", "mode": "sideways"}}, "spec.policy.plateau.mode"),
    ({"lr": 0.1, "plateau": {"metric": "val_loss", "threshold_mode": "pct"}}, "spec.policy.plateau.threshold_mode"),
    ({"lr": 0.1, "plateau": {"metric": ""}}, "spec.policy.plateau.metric"),
    ({"lr": -0.1}, "spec.policy.lr"),
    ({"lr": 0.1, "schedule": {"cosine_restarts": {"t_0": 0}}}, "spec.policy.schedule.cosine_restarts.t_0"),
    ({"lr": 0.1, "schedule": {"cosine_restarts": {"t_0": 10, "t_mult": 0.5}}},
     "spec.policy.schedule.cosine_restarts.t_mult"),
    ({"lr": 0.1, "schedule": {"step": {"step_size": 0}}}, "spec.policy.schedule.step.step_size"),
    ({"lr": 0.1, "warmup": {"steps": 10, "mode": "cubic"}}, "spec.policy.warmup.mode"),
])
def test_malformed_policy_is_invalid_argument_with_the_field(client: lrctl.Client, policy, field) -> None:
    with pytest.raises(lrctl.InvalidArgument) as caught:
        client.create_job("malformed", policy)
    assert field in [f for f, _ in caught.value.field_violations]
    with pytest.raises(lrctl.NotFound):
        client.get_job("malformed")


@pytest.mark.parametrize("policy", [
    {"lr": 0.1, "plateau": {"metric": "val_loss", "patience": -1}},
    {"lr": 0.1, "plateau": {"metric": "val_loss", "patiense": 3}},
    {"lr": "fast"},
])
def test_unparseable_policy_is_invalid_argument_naming_the_field(client: lrctl.Client, policy) -> None:
    """Negative counts and unknown fields cannot even be encoded in the message: the SDK
    refuses them while parsing the proto-JSON, with the same error type."""
    with pytest.raises(lrctl.InvalidArgument) as caught:
        client.create_job("unparseable", policy)
    assert caught.value.field_violations


def test_update_policy_with_bad_values_changes_nothing(client: lrctl.Client) -> None:
    job = client.create_job("bad-update", PLATEAU)
    before = job.info()
    with pytest.raises(lrctl.InvalidArgument) as caught:
        job.update_policy({"lr": 0.1, "plateau": {"metric": "val_loss", "factor": 2}}, reason="bad")
    assert [f for f, _ in caught.value.field_violations] == ["policy.plateau.factor"]
    unchanged(job, before)


def test_stale_step_is_failed_precondition_with_server_step(client: lrctl.Client) -> None:
    job = client.create_job("stale", PLATEAU)
    job.report(10, val_loss=1.0)
    before = job.info()
    with pytest.raises(lrctl.FailedPrecondition) as caught:
        job.report(5, val_loss=0.5)
    assert caught.value.server_step == 10
    unchanged(job, before)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nonfinite_metric_is_refused_by_default(client: lrctl.Client, value: float) -> None:
    job = client.create_job(f"nonfinite-reject-{value}", PLATEAU)
    before = job.info()
    with pytest.raises(lrctl.InvalidArgument) as caught:
        job.report(1, val_loss=value)
    assert caught.value.field_violations[0][0] == "metrics[val_loss]"
    unchanged(job, before)
    assert job.events() == job.events()[:1]  # only "created": nothing stored


def test_nonfinite_metric_is_skipped_and_counted_when_asked(client: lrctl.Client) -> None:
    job = client.create_job("nonfinite-skip", {**PLATEAU, "on_nonfinite_metric": "skip"})
    job.report(1, val_loss=1.0)
    job.report(2, val_loss=math.nan, val_acc=0.5)
    info = job.info()
    assert info.skipped_nonfinite_metrics == 1
    assert info.plateau.num_bad_reports == 0 and info.plateau.best == 1.0


def test_bad_override_is_invalid_argument(stub: controller_pb2_grpc.ControllerStub, client: lrctl.Client) -> None:
    job = client.create_job("bad-override", PLATEAU)
    before = job.info()
    for override in (controller_pb2.Override(reason="no value"), controller_pb2.Override(lr=-1.0),
                     controller_pb2.Override(scale=0.0), controller_pb2.Override(lr=math.nan),
                     controller_pb2.Override(lr=0.0), controller_pb2.Override(lr=-0.0),
                     controller_pb2.Override(scale=math.inf)):
        with pytest.raises(grpc.RpcError) as caught:
            stub.SetOverride(controller_pb2.SetOverrideRequest(job_id="bad-override", override=override))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    unchanged(job, before)


def test_bad_job_id_is_invalid_argument(client: lrctl.Client) -> None:
    for job_id in ("", "has space", "-leading-dash", "x" * 129, "slash/inside"):
        with pytest.raises(lrctl.InvalidArgument) as caught:
            client.create_job(job_id, PLATEAU)
        assert caught.value.field_violations[0][0] == "job_id"


def test_over_a_limit_is_resource_exhausted(client: lrctl.Client, stub) -> None:
    job = client.create_job("limits", PLATEAU)
    before = job.info()
    with pytest.raises(lrctl.ResourceExhausted, match="metrics in one report"):
        job.report(1, {f"m{i}": 1.0 for i in range(65)})
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetLearningRate(controller_pb2.GetLearningRateRequest(job_id="limits", step=0, horizon=100_001))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError) as caught:
        stub.PreviewSchedule(controller_pb2.PreviewScheduleRequest(policy=policy_pb2.Policy(lr=0.1), steps=10**6))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    unchanged(job, before)


def test_bad_metric_name_and_empty_report_are_invalid_argument(client: lrctl.Client) -> None:
    job = client.create_job("metric-names", PLATEAU)
    before = job.info()
    with pytest.raises(lrctl.InvalidArgument):
        job.report(1, {"bad name": 1.0})
    with pytest.raises(lrctl.InvalidArgument):
        job.report(1, {})
    unchanged(job, before)


def test_a_policy_or_override_whose_lr_could_reach_inf_is_refused(client: lrctl.Client) -> None:
    """exponential gamma 10 served LR = inf from step ~309 before; now it is refused at create
    and at update (max_lr makes it a capped ramp), and so is an override scale that overflows."""
    growing = {"lr": 0.1, "schedule": {"exponential": {"gamma": 10}}}
    with pytest.raises(lrctl.InvalidArgument) as caught:
        client.create_job("grows", growing)
    assert [field for field, _ in caught.value.field_violations] == ["spec.policy.schedule"]
    job = client.create_job("grows", {"lr": 1e300})
    before = job.info()
    with pytest.raises(lrctl.InvalidArgument) as caught:
        job.override(scale=1e10, reason="too far")
    assert [field for field, _ in caught.value.field_violations] == ["override.scale"]
    with pytest.raises(lrctl.InvalidArgument):
        job.update_policy(growing, reason="grow")
    unchanged(job, before)
    capped = client.create_job("capped-ramp", {**growing, "max_lr": 1.0})
    assert capped.lr(400) == 1.0
    client.delete_job("grows")
    client.delete_job("capped-ramp")
