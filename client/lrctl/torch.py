"""PyTorch integration: `RemoteLRScheduler`, an `LRScheduler` whose LRs come from an lrctl job.

    scheduler = RemoteLRScheduler(optimizer, job)    # instead of SequentialLR(...), CosineAnnealingLR(...)
    for batch in loader:
        loss.backward(); optimizer.step(); scheduler.step()
    decision = scheduler.report(val_loss)            # instead of ReduceLROnPlateau.step(val_loss)

The step is the scheduler's own counter (`last_epoch`, the number of `step()` calls), as in
torch: an optimizer step that a GradScaler skips still counts once `scheduler.step()` is
called, so the LR stays `job.lr(t)` and never drifts from the job's step.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from lrctl.events import Decision
from lrctl.job import Job

# Keys of state_dict(); the optimizer and the job handle (a live channel) are not state.
STATE_KEYS = ("last_epoch", "_step_count", "_last_lr", "base_lrs", "group_scales", "metric")


def set_group_lrs(optimizer: Optimizer, lrs: Sequence[float]) -> None:
    """Sets each param group's LR; a tensor LR (capturable or compiled optimizers) is filled in place."""
    for group, lr in zip(optimizer.param_groups, lrs, strict=True):
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


class RemoteLRScheduler(LRScheduler):
    """Sets every param group's LR to `job.lr(t)` (times its `group_scales` entry) after t step()s.

    `job.lr` is served from the job's lease, so stepping costs one RPC per `job.horizon` steps
    while nothing changes. On ranks that never call `report()`, call `job.follow()` so the lease
    drops when another rank's report changes the job.
    """

    def __init__(self, optimizer: Optimizer, job: Job, last_epoch: int = -1, *,
                 group_scales: Sequence[float] | None = None, metric: str | None = None) -> None:
        groups = len(optimizer.param_groups)
        scales = [1.0] * groups if group_scales is None else [float(s) for s in group_scales]
        if len(scales) != groups:
            raise ValueError(f"Invalid group_scales: {len(scales)} values for {groups} param groups")
        for scale in scales:
            if not (math.isfinite(scale) and scale > 0):
                raise ValueError(f"Invalid group_scales value: {scale}")
        if metric is not None and not metric:
            raise ValueError("Invalid metric name: ''")
        self.job = job
        self.group_scales = scales
        self.metric = metric
        self.last_decision: Decision | None = None
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lr = self.job.lr(self.last_epoch)
        return [lr * scale for scale in self.group_scales]

    # `step(epoch)` (deprecated in torch) jumps to a step; the job's LR is closed-form anyway.
    _get_closed_form_lr = get_lr

    @property
    def should_stop(self) -> bool:
        """The last report's early-stopping decision (False before the first report)."""
        return self.last_decision is not None and self.last_decision.should_stop

    def report(self, metric: float | torch.Tensor | None = None, **metrics: float | torch.Tensor) -> Decision:
        """One report at the current step, like `ReduceLROnPlateau.step(metric)`; the decided LR
        applies at once. A bare `metric` is named after the job's plateau metric (else its
        early-stopping metric). Reporting a step again returns the first decision, which is what
        makes replaying from an older checkpoint safe."""
        values = {name: float(value) for name, value in metrics.items()}
        if metric is not None:
            values[self._metric_name()] = float(metric)
        if not values:
            raise ValueError("report() needs a metric value")
        decision = self.job.report(self.last_epoch, values)
        self.last_decision = decision
        self._apply([decision.lr * scale for scale in self.group_scales])
        return decision

    def state_dict(self) -> dict[str, Any]:
        """The step (`last_epoch`) and what torch's schedulers keep, plus the job id; plain
        values only, so `torch.load(..., weights_only=True)` reads it."""
        state = {key: self.__dict__[key] for key in STATE_KEYS}
        state["job_id"] = self.job.job_id
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Resumes at the saved step and applies the job's LR for it, which may have changed
        since the save (an override, or a report made after it)."""
        saved_job = state_dict.get("job_id", self.job.job_id)
        if saved_job != self.job.job_id:
            raise ValueError(f"Invalid state_dict: it was saved for job {saved_job!r}, this scheduler drives "
                             f"job {self.job.job_id!r} (drop 'job_id' from it to continue another job)")
        self.__dict__.update({key: value for key, value in state_dict.items() if key in STATE_KEYS})
        self._apply(self.get_lr())

    def _metric_name(self) -> str:
        if self.metric is None:
            policy = self.job.info().spec.policy
            self.metric = policy.plateau.metric or policy.early_stopping.metric
            if not self.metric:
                raise ValueError(f"job {self.job.job_id!r} has no plateau or early-stopping metric; "
                                 "name the value: report(val_loss=x)")
        return self.metric

    def _apply(self, lrs: Sequence[float]) -> None:
        set_group_lrs(self.optimizer, lrs)
        self._last_lr = [group["lr"].clone() if isinstance(group["lr"], torch.Tensor) else group["lr"]
                         for group in self.optimizer.param_groups]
