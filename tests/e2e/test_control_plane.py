"""The control plane end to end: a real server process, the SDK, gRPC on loopback."""
from __future__ import annotations

import threading

import grpc
import pytest
import torch
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import lrctl
from tests.support.server_process import ServerProcess

PLATEAU = {"lr": 0.1, "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 1}}
ISSUE_POLICY = {
    "lr": 0.1,
    "warmup": {"steps": 500, "start_factor": 0.01},
    "schedule": {"cosine_restarts": {"t_0": 1000, "t_mult": 2, "eta_min": 1e-5, "peak_decay": 1.0}},
    "plateau": {"metric": "val_loss", "mode": "min", "factor": 0.5, "patience": 2, "threshold": 1e-4,
                "threshold_mode": "rel", "cooldown": 0, "min_lr": 0, "eps": 1e-8},
    "early_stopping": {"metric": "val_loss", "patience": 10, "min_delta": 0},
}


def torch_plateau_lrs(values: list[float], **kwargs: float) -> list[float]:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **kwargs)
    lrs = []
    for value in values:
        scheduler.step(value)
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs


def test_issue_policy_is_accepted_and_serves_warmup(client: lrctl.Client) -> None:
    job = client.create_job("issue-policy", ISSUE_POLICY)
    assert job.lr(0) == pytest.approx(0.1 * 0.01)
    assert job.lr(500) == pytest.approx(0.1)
    info = job.info()
    assert info.spec.policy.schedule.cosine_restarts.t_0 == 1000


def test_report_decisions_match_torch_reduce_lr_on_plateau(client: lrctl.Client) -> None:
    values = [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8, 0.9]
    expected = torch_plateau_lrs(values, factor=0.5, patience=1)
    job = client.create_job("torch-plateau", PLATEAU)
    got = [job.report(step, val_loss=value).lr for step, value in enumerate(values, start=1)]
    assert got == pytest.approx(expected, rel=1e-6)
    assert job.info().plateau.reductions == sum(1 for a, b in zip([0.1] + expected, expected) if b < a)


def test_lease_serves_many_steps_per_rpc(client: lrctl.Client) -> None:
    job = client.create_job("lease", {"lr": 0.1, "schedule": {"cosine": {"t_max": 5000}}})
    lrs = [job.lr(step) for step in range(5000)]
    assert job.rpc_count <= 5000 // 100
    fresh = client.job("lease", horizon=1)
    assert [fresh.lr(step) for step in (0, 1234, 4999)] == [lrs[0], lrs[1234], lrs[4999]]


def test_report_invalidates_the_lease(client: lrctl.Client) -> None:
    job = client.create_job("lease-invalidated", {**PLATEAU, "plateau": {**PLATEAU["plateau"], "patience": 0}})
    assert job.lr(10) == pytest.approx(0.1)
    job.report(10, val_loss=1.0)
    decision = job.report(11, val_loss=2.0)
    assert [e.kind for e in decision.events] == ["reduced"]
    assert job.lr(12) == pytest.approx(0.05)
    assert job.lr(10) == pytest.approx(0.1), "a reduction never changes the LR of earlier steps"


def test_same_step_same_lr_for_every_caller(client: lrctl.Client, server: ServerProcess) -> None:
    client.create_job("ranks", {"lr": 0.3, "schedule": {"step": {"step_size": 7, "gamma": 0.5}}})
    results: list[list[float]] = []

    def rank() -> None:
        with lrctl.Client(server.address) as own:
            results.append([own.job("ranks", horizon=1).lr(s) for s in range(0, 50, 3)])

    threads = [threading.Thread(target=rank) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r == results[0] for r in results)


def test_report_is_idempotent_on_job_step_metric(client: lrctl.Client) -> None:
    job = client.create_job("idempotent", {**PLATEAU, "plateau": {**PLATEAU["plateau"], "patience": 0}})
    job.report(1, val_loss=1.0)
    first = job.report(2, val_loss=2.0)
    again = job.report(2, val_loss=2.0)
    assert again.lr == first.lr and again.version == first.version
    assert again.duplicate_metrics == ("val_loss",)
    assert job.info().plateau.reductions == 1
    mixed = job.report(2, val_loss=5.0, val_acc=0.7)
    assert mixed.duplicate_metrics == ("val_loss",)
    assert job.info().plateau.reductions == 1


def test_create_job_is_idempotent_with_the_same_key(client: lrctl.Client) -> None:
    client.create_job("created-once", PLATEAU, idempotency_key="k1")
    client.create_job("created-once", PLATEAU, idempotency_key="k1")
    with pytest.raises(lrctl.AlreadyExists):
        client.create_job("created-once", PLATEAU, idempotency_key="k2")
    with pytest.raises(lrctl.AlreadyExists):
        client.create_job("created-once", {"lr": 0.2}, idempotency_key="k1")


def test_override_pins_scales_expires_and_is_audited(client: lrctl.Client) -> None:
    job = client.create_job("override", {"lr": 0.1, "schedule": {"exponential": {"gamma": 0.9}}})
    job.override(lr=0.5, reason="pin for a test")
    assert job.lr(3) == 0.5
    job.override(scale=2.0, until_step=10, reason="double until 10")
    assert job.lr(3) == pytest.approx(2 * 0.1 * 0.9 ** 3)
    assert job.lr(10) == pytest.approx(0.1 * 0.9 ** 10)
    job.clear_override(reason="done")
    assert job.lr(3) == pytest.approx(0.1 * 0.9 ** 3)
    audit = [(e.kind, e.reason) for e in job.events() if e.reason]
    assert audit == [("override_set", "pin for a test"), ("override_set", "double until 10"),
                     ("override_cleared", "done")]


def test_update_policy_is_versioned_and_audited(client: lrctl.Client) -> None:
    job = client.create_job("update-policy", {"lr": 0.1})
    updated = job.update_policy({"lr": 0.2}, reason="bigger", expected_policy_version=1)
    assert updated.policy_version == 2 and job.lr(0) == pytest.approx(0.2)
    with pytest.raises(lrctl.FailedPrecondition):
        job.update_policy({"lr": 0.3}, reason="lost race", expected_policy_version=1)
    assert job.lr(0) == pytest.approx(0.2)
    assert [(e.kind, e.reason) for e in job.events() if e.kind == "policy_updated"] == [("policy_updated", "bigger")]


def test_watch_streams_changes(client: lrctl.Client, server: ServerProcess) -> None:
    job = client.create_job("watched", {**PLATEAU, "plateau": {**PLATEAU["plateau"], "patience": 0}})
    seen: list[str] = []
    ready = threading.Event()

    def watch() -> None:
        with lrctl.Client(server.address) as own:
            for event in own.job("watched").watch(timeout=20):
                seen.append(event.kind)
                ready.set()
                if event.kind == "override_cleared":
                    return

    thread = threading.Thread(target=watch)
    thread.start()
    assert ready.wait(10)  # the stored "created" event arrived: the stream is live
    job.report(1, val_loss=1.0)
    job.report(2, val_loss=3.0)
    job.override(lr=0.01, reason="watch")
    job.clear_override(reason="watch done")
    thread.join(20)
    assert seen == ["created", "metrics", "reduced", "override_set", "override_cleared"]


def test_list_jobs_pages_through_everything(client: lrctl.Client) -> None:
    for i in range(25):
        client.create_job(f"page-{i:02d}", {"lr": 0.1})
    names = [j.job_id for j in client.jobs(page_size=7) if j.job_id.startswith("page-")]
    assert names == [f"page-{i:02d}" for i in range(25)]


def test_delete_job(client: lrctl.Client) -> None:
    client.create_job("doomed", {"lr": 0.1})
    client.delete_job("doomed")
    with pytest.raises(lrctl.NotFound):
        client.get_job("doomed")
    client.create_job("doomed", {"lr": 0.2})
    assert client.job("doomed").lr(0) == pytest.approx(0.2)


def test_preview_matches_a_job_with_the_same_inputs(client: lrctl.Client) -> None:
    metrics = {600: {"val_loss": 1.0}, 700: {"val_loss": 1.0}, 800: {"val_loss": 1.0}, 900: {"val_loss": 1.0}}
    preview = client.preview(ISSUE_POLICY, 1200, metrics)
    job = client.create_job("preview-twin", ISSUE_POLICY)
    for step, values in metrics.items():
        job.report(step, values)
    assert list(preview.lrs[900:1200]) == pytest.approx([job.lr(s) for s in range(900, 1200)], rel=1e-12)
    assert any(e.kind == 2 for e in preview.events)  # EVENT_KIND_REDUCED


def test_health_and_reflection(server: ServerProcess) -> None:
    assert server.health() == health_pb2.HealthCheckResponse.SERVING
    assert server.health("lrctl.v1.Controller") == health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        reply = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in reply.list_services_response.service}
    assert {"lrctl.v1.Controller", "lrctl.v1.Diagnostics", "grpc.health.v1.Health"} <= names


def test_echo(client: lrctl.Client) -> None:
    assert client.echo(b"ping") == b"ping"
