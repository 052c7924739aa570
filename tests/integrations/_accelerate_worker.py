"""One process of the Accelerate test: trains two copies of a model side by side under one
`Accelerator`, one with `RemoteLRScheduler`, one with torch's own scheduler, both passed
through `accelerator.prepare(...)`, and writes what each saw as JSON.

Usage: python -m tests.integrations._accelerate_worker ADDRESS JOB_ID SPLIT_BATCHES OUT_JSON
(with WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set for more than one process).
"""
from __future__ import annotations

import copy
import json
import sys

import torch
from accelerate import Accelerator, DataLoaderConfiguration

import lrctl
from lrctl.torch import RemoteLRScheduler

POLICY = {"lr": 0.1, "warmup": {"steps": 6, "start_factor": 0.1},
          "schedule": {"cosine_restarts": {"t_0": 10, "t_mult": 2, "eta_min": 0.001}}}
EPOCHS, SAMPLES, BATCH, ACCUMULATION = 3, 64, 4, 2


def torch_scheduler(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=6)
    restarts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=10, T_mult=2, eta_min=0.001)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, restarts], milestones=[6])


def main(address: str, job_id: str, split_batches: bool, out: str) -> None:
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=ACCUMULATION,
                              dataloader_config=DataLoaderConfiguration(split_batches=split_batches))
    torch.manual_seed(0)
    ours = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    theirs = copy.deepcopy(ours)
    ours_optimizer = torch.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    theirs_optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(SAMPLES, 4, generator=torch.Generator().manual_seed(1))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.sin(x.sum(1, keepdim=True))),
                                         batch_size=BATCH)
    with lrctl.Client(address) as client:
        job = client.create_job(job_id, POLICY, exist_ok=True)  # every process; one job
        remote = RemoteLRScheduler(ours_optimizer, job)
        (ours, ours_optimizer, theirs, theirs_optimizer, loader, ours_scheduler, theirs_scheduler) = \
            accelerator.prepare(ours, ours_optimizer, theirs, theirs_optimizer, loader, remote,
                                torch_scheduler(theirs_optimizer))
        lrs: list[tuple[float, float]] = []
        for _ in range(EPOCHS):
            for inputs, targets in loader:
                with accelerator.accumulate(ours, theirs):
                    for model, optimizer, scheduler in ((ours, ours_optimizer, ours_scheduler),
                                                        (theirs, theirs_optimizer, theirs_scheduler)):
                        loss = torch.nn.functional.mse_loss(model(inputs), targets)
                        accelerator.backward(loss)
                        optimizer.step()
                        scheduler.step()
                        optimizer.zero_grad()
                lrs.append((ours_optimizer.param_groups[0]["lr"], theirs_optimizer.param_groups[0]["lr"]))
        decision = remote.report(val_loss=1.0)
        result = {
            "processes": accelerator.num_processes,
            "lrs": lrs,
            "scheduler_steps": remote.last_epoch,
            "job_lrs": [job.lr(step) for step in range(remote.last_epoch + 1)],
            "decision_lr": decision.lr,
            "max_param_difference": max(float((a - b).abs().max())
                                        for a, b in zip(ours.parameters(), theirs.parameters(), strict=True)),
        }
    with open(out, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] == "split", sys.argv[4])
