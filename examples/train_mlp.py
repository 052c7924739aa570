"""Train a small MLP with torch's schedulers, then again with lrctl, and check they agree.

Each scenario trains the same model from the same seed twice: (a) with torch.optim's own
schedulers, (b) with `lrctl.torch.RemoteLRScheduler` on an lrctl job whose policy is the
equivalent one. The LR of every step must be the same, and so must the losses (to float32
tolerance). The scenarios:

- warmup + restarts: SGD, SequentialLR(LinearLR -> CosineAnnealingWarmRestarts), stepped per batch
- plateau: Adam, ReduceLROnPlateau on the validation loss after each epoch
- server-side optimizer: (b) is `lrctl.torch.RemoteOptimizer` instead: the job runs SGD with
  momentum under the warmup + restarts policy on the server; (a) is torch.optim.SGD with the
  same SequentialLR

    python examples/train_mlp.py --embedded --plot mlp.png        # starts its own lrctl server
    python examples/train_mlp.py --server 127.0.0.1:50051         # or uses yours
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import pathlib
import sys
import uuid
from typing import Callable

import numpy as np
import torch
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, LinearLR, ReduceLROnPlateau, SequentialLR

import lrctl
from lrctl.cli.demo_cmd import embedded_server
from lrctl.torch import RemoteLRScheduler, RemoteOptimizer

SEED = 0
FEATURES, HIDDEN = 16, 64
TRAIN, VALIDATION, BATCH = 1024, 256, 32
LOSS_RTOL = 1e-5


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]
    policy: dict
    # The torch side: builds the scheduler and says which of its hooks the loop calls.
    torch_scheduler: Callable[[torch.optim.Optimizer], object]
    torch_steps_per_batch: bool
    # The job's optimizer spec when lrctl runs the optimizer too (RemoteOptimizer), else None.
    server_optimizer: dict | None = None


WARMUP_RESTARTS = {"lr": 0.05, "warmup": {"steps": 40, "start_factor": 0.1},
                   "schedule": {"cosine_restarts": {"t_0": 64, "t_mult": 2, "eta_min": 1e-4}}}


def warmup_restarts(opt: torch.optim.Optimizer) -> SequentialLR:
    return SequentialLR(opt, [LinearLR(opt, start_factor=0.1, total_iters=40),
                              CosineAnnealingWarmRestarts(opt, T_0=64, T_mult=2, eta_min=1e-4)], milestones=[40])


SCENARIOS = (
    Scenario(
        name="warmup + restarts", optimizer=lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9),
        policy=WARMUP_RESTARTS, torch_scheduler=warmup_restarts, torch_steps_per_batch=True),
    Scenario(
        name="plateau", optimizer=lambda params: torch.optim.Adam(params, lr=0.01),
        policy={"lr": 0.01, "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 1, "threshold": 0.01}},
        torch_scheduler=lambda opt: ReduceLROnPlateau(opt, factor=0.5, patience=1, threshold=0.01),
        torch_steps_per_batch=False),
    Scenario(
        name="server-side optimizer", optimizer=lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9),
        policy=WARMUP_RESTARTS, torch_scheduler=warmup_restarts, torch_steps_per_batch=True,
        server_optimizer={"sgd": {"momentum": 0.9}}),
)


@dataclasses.dataclass
class Run:
    lrs: list[float] = dataclasses.field(default_factory=list)
    losses: list[float] = dataclasses.field(default_factory=list)
    val_losses: list[float] = dataclasses.field(default_factory=list)


def make_data() -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(TRAIN + VALIDATION, FEATURES, generator=generator)
    w = torch.randn(FEATURES, 1, generator=generator)
    y = torch.sin(x @ w) + 0.5 * (x[:, :1] * x[:, 1:2]) + 0.1 * torch.randn(len(x), 1, generator=generator)
    return x[:TRAIN], y[:TRAIN], x[TRAIN:], y[TRAIN:]


def train(scenario: Scenario, data: tuple[torch.Tensor, ...], epochs: int, job: lrctl.Job | None) -> Run:
    """One training run; `job` None means torch's optimizer and schedulers, else RemoteLRScheduler
    on the job (or RemoteOptimizer, when the scenario runs the optimizer on the server)."""
    x, y, x_val, y_val = data
    torch.manual_seed(SEED)
    model = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 1))
    after_batch: Callable[..., object] | None
    after_epoch: Callable[..., object] | None
    if job is not None and scenario.server_optimizer is not None:
        optimizer: torch.optim.Optimizer = RemoteOptimizer(model, job)               # optimizer and scheduler
        after_batch = after_epoch = None
    elif job is None:
        optimizer = scenario.optimizer(list(model.parameters()))
        scheduler = scenario.torch_scheduler(optimizer)
        after_batch = scheduler.step if scenario.torch_steps_per_batch else None
        after_epoch = None if scenario.torch_steps_per_batch else scheduler.step     # step(val_loss)
    else:
        optimizer = scenario.optimizer(list(model.parameters()))
        scheduler = RemoteLRScheduler(optimizer, job)                                 # the one-line change
        after_batch = scheduler.step
        after_epoch = scheduler.report if "plateau" in scenario.policy else None      # report(val_loss)
    order = torch.Generator().manual_seed(SEED)
    run = Run()
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(TRAIN, generator=order).split(BATCH):
            run.lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            run.losses.append(loss.item())
            if after_batch:
                after_batch()
        model.eval()
        with torch.no_grad():
            run.val_losses.append(torch.nn.functional.mse_loss(model(x_val), y_val).item())
        if after_epoch:
            after_epoch(run.val_losses[-1])
    return run


def compare(scenario: Scenario, local: Run, remote: Run, print_every: int) -> None:
    print(f"\n== {scenario.name}: {len(local.lrs)} steps ==")
    print(f"{'step':>6} {'torch lr':>14} {'lrctl lr':>14} {'torch loss':>12} {'lrctl loss':>12}")
    for step in range(0, len(local.lrs), print_every):
        print(f"{step:>6} {local.lrs[step]:>14.8g} {remote.lrs[step]:>14.8g} "
              f"{local.losses[step]:>12.6g} {remote.losses[step]:>12.6g}")
    print("val loss torch:", " ".join(f"{v:.5f}" for v in local.val_losses))
    print("val loss lrctl:", " ".join(f"{v:.5f}" for v in remote.val_losses))
    lr_error = float(np.max(np.abs(np.subtract(local.lrs, remote.lrs)) / np.abs(local.lrs)))
    loss_error = float(np.max(np.abs(np.subtract(local.losses, remote.losses)) / np.abs(local.losses)))
    print(f"max relative difference: lr {lr_error:.3g}, loss {loss_error:.3g}; "
          f"{len(set(local.lrs))} distinct LRs")
    np.testing.assert_allclose(remote.lrs, local.lrs, rtol=1e-12, atol=0, err_msg=f"{scenario.name}: LRs differ")
    np.testing.assert_allclose(remote.losses + remote.val_losses, local.losses + local.val_losses,
                               rtol=LOSS_RTOL, err_msg=f"{scenario.name}: losses differ")
    print(f"{scenario.name}: LRs match (rtol 1e-12), losses match (rtol {LOSS_RTOL:g})")


def write_plot(path: pathlib.Path, results: list[tuple[Scenario, Run, Run]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, len(results), figsize=(6 * len(results), 7), squeeze=False)
    for column, (scenario, local, remote) in enumerate(results):
        lr_axis, loss_axis = axes[0][column], axes[1][column]
        lr_axis.plot(local.lrs, label="torch", linewidth=3, alpha=0.5)
        lr_axis.plot(remote.lrs, label="lrctl", linestyle="--", color="black", linewidth=1)
        lr_axis.set(title=scenario.name, ylabel="learning rate")
        loss_axis.plot(local.losses, label="torch", linewidth=3, alpha=0.5)
        loss_axis.plot(remote.losses, label="lrctl", linestyle="--", color="black", linewidth=1)
        loss_axis.set(xlabel="step", ylabel="training loss", yscale="log")
        lr_axis.legend()
        loss_axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"plot written to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", help="address of a running lrctl server, host:port")
    where.add_argument("--embedded", action="store_true", help="start a throwaway lrctl server for this run")
    parser.add_argument("--plot", type=pathlib.Path, help="write the LR and loss curves to this PNG")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--print-every", type=int, default=32, help="print one step in this many")
    args = parser.parse_args(argv)

    data = make_data()
    with contextlib.ExitStack() as stack:
        address = args.server or stack.enter_context(embedded_server()).address
        client = stack.enter_context(lrctl.Client(address))
        results = []
        for scenario in SCENARIOS:
            job_id = f"train-mlp-{scenario.name.split()[0]}-{uuid.uuid4().hex[:8]}"
            job = client.create_job(job_id, scenario.policy, optimizer=scenario.server_optimizer,
                                    labels={"example": "train_mlp"})
            local = train(scenario, data, args.epochs, job=None)
            remote = train(scenario, data, args.epochs, job=job)
            print(f"\njob {job_id} on {address}: {job.rpc_count} GetLearningRate calls for {len(remote.lrs)} steps"
                  + (" (optimizer on the server)" if scenario.server_optimizer else ""))
            compare(scenario, local, remote, args.print_every)
            results.append((scenario, local, remote))
    if args.plot:
        write_plot(args.plot, results)
    print("\nOK: every scenario's LR sequence and losses match torch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
