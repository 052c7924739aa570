"""Runs the torch peer on the same inputs, so golden values are computed, never pasted."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

import numpy as np
import torch

Factory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


def _optimizer(lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def scheduler_lrs(make: Factory, lr: float, n: int) -> np.ndarray:
    """LRs after 0, 1, ..., n-1 calls of scheduler.step(), as a training loop sees them."""
    opt = _optimizer(lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = make(opt)
        out = [opt.param_groups[0]["lr"]]
        for _ in range(n - 1):
            opt.step()
            sched.step()
            out.append(opt.param_groups[0]["lr"])
    return np.asarray(out, dtype=np.float64)


def plateau_lrs(lr: float, values: Iterable[float], **kwargs: object) -> np.ndarray:
    """LR right after each ReduceLROnPlateau.step(value)."""
    opt = _optimizer(lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    out = []
    for value in values:
        sched.step(value)
        out.append(opt.param_groups[0]["lr"])
    return np.asarray(out, dtype=np.float64)
