"""One worker process of a 4-rank data-parallel run, for test_data_parallel.py.

    python _data_parallel_worker.py ddp    MODEL RANK WORLD INIT_FILE OUT
    python _data_parallel_worker.py lrctl  MODEL RANK WORLD ADDRESS   OUT

Both train the same model from the same seed on the same data, each rank on its own share of
every batch, for STEPS steps: "ddp" with torch DDP (gloo) and a local optimizer under torch's
schedulers, "lrctl" with lrctl.torch.RemoteOptimizer on one job of WORLD workers. MODEL is
"dense" (an MLP, Adam, warmup -> cosine), "sparse-mean" or "sparse-sum" (an nn.Embedding with
sparse gradients and SparseAdam; "sum" is the summed gradient, DDP's average times the world
size). Rank 0 writes the final parameters and the LR of every step to OUT (.npz).
"""
from __future__ import annotations

import sys

import numpy as np
import torch

STEPS, BATCH, LR, WARMUP, T_MAX = 50, 32, 0.01, 10, 40
POLICY = {"lr": LR, "warmup": {"steps": WARMUP, "start_factor": 0.1}, "schedule": {"cosine": {"t_max": T_MAX}}}


def model(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "dense":
        return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    return torch.nn.Embedding(20, 4, sparse=True)


def batch(kind: str, step: int, rank: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank `rank`'s share of step `step`'s batch (the same batch for every run)."""
    generator = torch.Generator().manual_seed(1000 + step)
    share = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
    if kind == "dense":
        x = torch.randn(BATCH, 8, generator=generator)
        return x[share], (x.sum(dim=1, keepdim=True) * 0.3)[share]
    ids = torch.randint(0, 20, (BATCH,), generator=generator)
    return ids[share], torch.randn(BATCH, 4, generator=generator)[share]


def loss_of(kind: str, net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.mse_loss(net(x), y)


def run_ddp(kind: str, rank: int, world: int, init_file: str) -> tuple[torch.nn.Module, list[float]]:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    net = model(kind)
    ddp = DistributedDataParallel(net)
    if kind == "dense":
        optimizer = torch.optim.Adam(net.parameters(), lr=LR)
        scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [
            torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=WARMUP),
            torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=T_MAX)], milestones=[WARMUP])
    else:
        optimizer = torch.optim.SparseAdam(net.parameters(), lr=LR)
        scheduler = None
    lrs = []
    for step in range(STEPS):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.zero_grad()
        loss_of(kind, ddp, *batch(kind, step, rank, world)).backward()
        if kind == "sparse-sum":
            for parameter in net.parameters():
                parameter.grad = parameter.grad * world
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    # Torn down as torch's shutdown notes ask: every rank past its last collective before any
    # rank closes its gloo pairs, and the DDP reducer (which holds the group and its pending
    # work) gone before the group. A rank that tore down early once aborted in CI with
    # "terminate called without an active exception".
    dist.barrier()
    del ddp
    dist.destroy_process_group()
    return net, lrs


def run_lrctl(kind: str, rank: int, world: int, address: str) -> tuple[torch.nn.Module, list[float]]:
    import lrctl
    import lrctl.torch

    net = model(kind)
    if rank != 0:
        for parameter in net.parameters():  # nothing of this rank's own initialisation may survive
            torch.nn.init.constant_(parameter, 7.0)
    job = lrctl.Client(address, timeout=60).job(f"data-parallel-{kind}")
    optimizer = lrctl.torch.RemoteOptimizer(net.named_parameters(), job, rank=rank)
    lrs = []
    for step in range(STEPS):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.zero_grad()
        loss_of(kind, net, *batch(kind, step, rank, world)).backward()
        optimizer.step()
    return net, lrs


def main() -> None:
    mode, kind, rank, world, where, out = sys.argv[1:7]
    rank, world = int(rank), int(world)
    torch.set_num_threads(1)
    net, lrs = (run_ddp if mode == "ddp" else run_lrctl)(kind, rank, world, where)
    if rank == 0:
        np.savez(out, lrs=np.array(lrs), **{name: p.detach().numpy() for name, p in net.named_parameters()})


if __name__ == "__main__":
    main()
