"""lrctl.torch.RemoteLRScheduler against a real server, with torch's own schedulers as the reference."""
from __future__ import annotations

import io
import uuid
import warnings

import pytest
import torch
from torch.optim.lr_scheduler import (CosineAnnealingWarmRestarts, LinearLR, LRScheduler, ReduceLROnPlateau,
                                      SequentialLR)

import lrctl
from lrctl.torch import RemoteLRScheduler

WARMUP_RESTARTS = {"lr": 0.1, "warmup": {"steps": 20, "start_factor": 0.1},
                   "schedule": {"cosine_restarts": {"t_0": 30, "t_mult": 2, "eta_min": 1e-4}}}
PLATEAU = {"lr": 0.1, "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 1}}


def new_job(client: lrctl.Client, policy: dict) -> lrctl.Job:
    return client.create_job(f"torch-{uuid.uuid4().hex[:12]}", policy)


def sgd(lr: float = 0.1, groups: int = 1) -> torch.optim.SGD:
    return torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(2))]} for _ in range(groups)], lr=lr)


def torch_warmup_restarts(optimizer: torch.optim.Optimizer) -> SequentialLR:
    return SequentialLR(optimizer, [LinearLR(optimizer, start_factor=0.1, total_iters=20),
                                    CosineAnnealingWarmRestarts(optimizer, T_0=30, T_mult=2, eta_min=1e-4)],
                        milestones=[20])


def step_both(*pairs: tuple[torch.optim.Optimizer, LRScheduler]) -> None:
    for optimizer, scheduler in pairs:
        optimizer.step()
        scheduler.step()


def advance(scheduler: LRScheduler, steps: int = 1) -> None:
    for _ in range(steps):
        step_both((scheduler.optimizer, scheduler))


def test_steps_follow_torch_sequential_lr(client: lrctl.Client) -> None:
    job = new_job(client, WARMUP_RESTARTS)
    local_opt, remote_opt = sgd(), sgd()
    local, remote = torch_warmup_restarts(local_opt), RemoteLRScheduler(remote_opt, job)
    assert isinstance(remote, LRScheduler)
    expected, got = [local.get_last_lr()[0]], [remote.get_last_lr()[0]]
    for _ in range(400):
        step_both((local_opt, local), (remote_opt, remote))
        expected.append(local.get_last_lr()[0])
        got.append(remote.get_last_lr()[0])
        assert remote_opt.param_groups[0]["lr"] == got[-1]
    assert got == pytest.approx(expected, rel=1e-12, abs=0)
    assert remote.last_epoch == 400 and got[-1] == job.lr(400)
    assert job.rpc_count == 1, "401 steps come from one lease"


def test_report_is_reduce_lr_on_plateau_step(client: lrctl.Client) -> None:
    values = [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8, 0.9]
    job = new_job(client, PLATEAU)
    local_opt, remote_opt = sgd(), sgd()
    local, remote = ReduceLROnPlateau(local_opt, factor=0.5, patience=1), RemoteLRScheduler(remote_opt, job)
    torch_lrs = []
    for value in values:
        for _ in range(7):
            remote_opt.step()
            remote.step()
            assert remote.get_last_lr() == [local_opt.param_groups[0]["lr"]]
        local.step(value)
        decision = remote.report(value)  # a bare value is the job's plateau metric, val_loss
        assert decision.lr == pytest.approx(local_opt.param_groups[0]["lr"], rel=1e-12)
        assert remote.get_last_lr() == [decision.lr] == [remote_opt.param_groups[0]["lr"]]
        torch_lrs.append(local_opt.param_groups[0]["lr"])
    reductions = sum(1 for before, after in zip([0.1, *torch_lrs], torch_lrs) if after < before)
    assert reductions > 0 and job.info().plateau.reductions == reductions
    assert job.info().last_report_step == 70


def test_report_with_named_metrics_and_early_stop(client: lrctl.Client) -> None:
    job = new_job(client, {"lr": 0.1, "early_stopping": {"metric": "val_acc", "mode": "max", "patience": 0}})
    scheduler = RemoteLRScheduler(sgd(), job)
    advance(scheduler)
    assert not scheduler.report(val_acc=0.7, val_loss=1.0).should_stop
    advance(scheduler)
    decision = scheduler.report(0.6)  # no plateau: a bare value is the early-stopping metric
    assert decision.should_stop and scheduler.should_stop
    assert [e.kind for e in decision.events] == ["early_stop"]


def test_bare_value_without_a_policy_metric_is_refused(client: lrctl.Client) -> None:
    scheduler = RemoteLRScheduler(sgd(), new_job(client, {"lr": 0.1}))
    with pytest.raises(ValueError, match="no plateau or early-stopping metric"):
        scheduler.report(0.5)
    assert scheduler.report(val_loss=0.5).lr == 0.1


def test_group_scales_and_bad_arguments(client: lrctl.Client) -> None:
    job = new_job(client, WARMUP_RESTARTS)
    optimizer = sgd(groups=2)
    scheduler = RemoteLRScheduler(optimizer, job, group_scales=[1.0, 0.25])
    advance(scheduler, 25)
    assert [g["lr"] for g in optimizer.param_groups] == [job.lr(25), job.lr(25) * 0.25]
    with pytest.raises(ValueError, match="Invalid group_scales: 1 values for 2 param groups"):
        RemoteLRScheduler(optimizer, job, group_scales=[1.0])
    with pytest.raises(ValueError, match="Invalid group_scales value: -1.0"):
        RemoteLRScheduler(optimizer, job, group_scales=[1.0, -1.0])


def test_tensor_lrs_are_filled_in_place(client: lrctl.Client) -> None:
    job = new_job(client, WARMUP_RESTARTS)
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=torch.tensor(0.1))
    lr_tensor = optimizer.param_groups[0]["lr"]
    scheduler = RemoteLRScheduler(optimizer, job)
    advance(scheduler)
    assert optimizer.param_groups[0]["lr"] is lr_tensor and lr_tensor.item() == pytest.approx(job.lr(1))
    assert scheduler.get_last_lr()[0] is not lr_tensor


def test_state_dict_resumes_the_job_step_and_replays_reports(client: lrctl.Client) -> None:
    job = new_job(client, {**WARMUP_RESTARTS, "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 0}})
    losses = [1.0, 2.0, 3.0, 0.5, 0.6]

    def epoch(scheduler: RemoteLRScheduler, optimizer: torch.optim.Optimizer, loss: float) -> list[float]:
        lrs = []
        for _ in range(10):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        lrs.append(scheduler.report(loss).lr)
        return lrs

    optimizer = sgd()
    scheduler = RemoteLRScheduler(optimizer, job)
    first = [epoch(scheduler, optimizer, loss) for loss in losses[:2]]
    buffer = io.BytesIO()
    torch.save({"scheduler": scheduler.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    later = [epoch(scheduler, optimizer, loss) for loss in losses[2:]]
    reductions = job.info().plateau.reductions
    assert reductions == 3

    # Crash; resume from the checkpoint taken after epoch 2, in a fresh process' objects.
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    assert checkpoint["scheduler"]["job_id"] == job.job_id and checkpoint["scheduler"]["last_epoch"] == 20
    with lrctl.Client(client.target) as other:
        resumed_opt = sgd()
        resumed = RemoteLRScheduler(resumed_opt, other.job(job.job_id))
        resumed.load_state_dict(checkpoint["scheduler"])
        resumed_opt.load_state_dict(checkpoint["optimizer"])
        assert resumed.last_epoch == 20 and resumed_opt.param_groups[0]["lr"] == first[-1][-1]
        replayed = [epoch(resumed, resumed_opt, loss) for loss in losses[2:]]
        assert replayed == later, "replayed reports get their first decisions; nothing is counted twice"
        assert resumed.last_decision is not None and resumed.last_decision.duplicate_metrics == ("val_loss",)
    assert job.info().plateau.reductions == reductions


def test_state_dict_of_another_job_is_refused(client: lrctl.Client) -> None:
    state = RemoteLRScheduler(sgd(), new_job(client, {"lr": 0.1})).state_dict()
    with pytest.raises(ValueError, match="saved for job"):
        RemoteLRScheduler(sgd(), new_job(client, {"lr": 0.1})).load_state_dict(state)


def test_grad_scaler_skipped_steps_keep_the_torch_step_count(client: lrctl.Client) -> None:
    """GradScaler skips optimizer.step() on inf/NaN gradients; scheduler.step() still counts,
    exactly as for torch's schedulers, so the LR stays job.lr(number of scheduler steps)."""
    job = new_job(client, WARMUP_RESTARTS)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = RemoteLRScheduler(optimizer, job)
    twin_opt = sgd()
    twin = torch_warmup_restarts(twin_opt)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    inputs, targets = torch.randn(8, 4), torch.randn(8, 1)
    skipped = {5, 6, 23, 40}
    for step in range(60):
        optimizer.zero_grad()
        scaler.scale(torch.nn.functional.mse_loss(model(inputs), targets)).backward()
        if step in skipped:
            model.weight.grad[0, 0] = float("inf")
        before = model.weight.detach().clone()
        scaler.step(optimizer)
        scaler.update()
        assert torch.equal(model.weight, before) == (step in skipped)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the twin never runs an optimizer step
            scheduler.step()
            twin.step()
        assert scheduler.get_last_lr()[0] == pytest.approx(twin.get_last_lr()[0], rel=1e-12, abs=0)
        assert scheduler.get_last_lr()[0] == job.lr(step + 1)
    assert scaler.get_scale() < 2.0 ** 10, "the scaler really saw the inf gradients"


def group_lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    return [float(group["lr"]) for group in optimizer.param_groups]


def test_add_param_group_mid_training_and_reports_without_step_follow_torch(client: lrctl.Client) -> None:
    """torch's test_add_param_group_does_not_break_reduce_lr_on_plateau, run against torch: a
    plateau-only loop (report() and no step(), each report is the next epoch as in
    ReduceLROnPlateau.step(x)) that adds a param group at epoch 8. Before, the report after
    add_param_group raised `ValueError: zip() argument 2 is shorter`, and every report landed
    on step 0 and was taken as a retry, so the LR never fell."""
    job = new_job(client, {"lr": 0.5, "plateau": {"metric": "val_loss", "mode": "min", "threshold_mode": "rel",
                                                  "threshold": 0.1, "patience": 5, "cooldown": 5}})
    local_opt, remote_opt = sgd(0.5), sgd(0.5)
    local = ReduceLROnPlateau(local_opt, mode="min", threshold_mode="rel", threshold=0.1, patience=5, cooldown=5)
    remote = RemoteLRScheduler(remote_opt, job)
    metrics = [1.0] * 7 + [0.6] + [0.5] * 12
    for epoch, value in enumerate(metrics):
        if epoch == 8:
            for optimizer in (local_opt, remote_opt):
                optimizer.add_param_group({"params": [torch.nn.Parameter(torch.rand(2, 3))], "lr": 0.05})
        local.step(value)
        remote.report(value)
        assert remote.last_epoch == epoch + 1
        assert group_lrs(remote_opt) == pytest.approx(group_lrs(local_opt), rel=1e-12), epoch
    assert len(remote_opt.param_groups) == 2 and group_lrs(local_opt)[0] < 0.5, "the LR fell, in both groups"


def test_per_group_min_lr_follows_torch(client: lrctl.Client) -> None:
    """ReduceLROnPlateau(min_lr=[...]): each group's LR stops at its own floor while the others
    go on falling; with step() between reports, as a loop that steps every batch does."""
    job = new_job(client, {"lr": 0.1, "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 0}})
    local_opt, remote_opt = (torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr}
                                              for lr in (0.1, 0.01)]) for _ in range(2))
    floors = [0.02, 0.0005]
    local = ReduceLROnPlateau(local_opt, factor=0.5, patience=0, min_lr=floors)
    remote = RemoteLRScheduler(remote_opt, job, group_scales=[1.0, 0.1], min_lrs=floors)
    for _ in range(12):
        for _ in range(3):
            remote_opt.step()
            remote.step()
        local.step(1.0)
        remote.report(1.0)
        assert group_lrs(remote_opt) == pytest.approx(group_lrs(local_opt), rel=1e-12)
    assert group_lrs(remote_opt) == pytest.approx(floors, rel=1e-12), "both groups reached their floors"
    with pytest.raises(ValueError, match="min_lrs"):
        RemoteLRScheduler(sgd(groups=2), job, min_lrs=[0.1])
    with pytest.raises(ValueError, match="min_lrs value"):
        RemoteLRScheduler(sgd(), job, min_lrs=-1.0)
