"""torch.optim on the same data as a remote job: the golden values of the data-plane tests."""
from __future__ import annotations

import inspect

import numpy as np
import torch

SHAPES = {"embedding": (40, 8), "bias": (8,), "conv": (4, 3, 3, 3)}
# Warmup into cosine, so the LR changes every step: torch's SequentialLR(LinearLR -> CosineAnnealingLR).
POLICY = {"lr": 0.02, "warmup": {"steps": 10, "start_factor": 0.1}, "schedule": {"cosine": {"t_max": 40}}}


def torch_scheduler(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=10)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=40)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[10])


def torch_lrs(steps: int) -> list[float]:
    """The LR of each of `steps` steps under POLICY, from torch's scheduler (for peers without one)."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=POLICY["lr"])
    scheduler, lrs = torch_scheduler(optimizer), []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


MATRICES = {"tall": (24, 8), "wide": (8, 20)}
"""For Muon, which steps matrices only."""


def initial_params(seed: int = 0, shapes: dict[str, tuple[int, ...]] = SHAPES) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}


def gradients(steps: int, seed: int = 1, shapes: dict[str, tuple[int, ...]] = SHAPES) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}
            for _ in range(steps)]


class TorchRun:
    """A torch optimizer and scheduler stepping tensors named like the remote job's."""

    def __init__(self, torch_class: type, kwargs: dict, params: dict[str, np.ndarray], lr: float = POLICY["lr"]) -> None:
        self.tensors = {name: torch.nn.Parameter(torch.from_numpy(value.copy())) for name, value in params.items()}
        single_tensor = {"foreach": False} if "foreach" in inspect.signature(torch_class).parameters else {}
        self.optimizer = torch_class(list(self.tensors.values()), lr=lr, **single_tensor, **kwargs)
        self.scheduler = torch_scheduler(self.optimizer)

    def step(self, grads: dict[str, np.ndarray]) -> float:
        """One step with `grads`; returns the LR it used."""
        lr = self.optimizer.param_groups[0]["lr"]
        for name, tensor in self.tensors.items():
            tensor.grad = torch.from_numpy(np.ascontiguousarray(grads[name], dtype=np.float32))
        self.optimizer.step()
        self.scheduler.step()
        return lr

    def params(self) -> dict[str, np.ndarray]:
        return {name: tensor.detach().numpy().copy() for name, tensor in self.tensors.items()}
