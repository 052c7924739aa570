"""PyTorch integration: `RemoteLRScheduler`, an `LRScheduler` whose LRs come from an lrctl job,
and `RemoteOptimizer`, an `Optimizer` whose update runs on the server.

    scheduler = RemoteLRScheduler(optimizer, job)    # instead of SequentialLR(...), CosineAnnealingLR(...)
    for batch in loader:
        loss.backward(); optimizer.step(); scheduler.step()
    decision = scheduler.report(val_loss)            # instead of ReduceLROnPlateau.step(val_loss)

    optimizer = RemoteOptimizer(model, job)          # instead of torch.optim.Adam(...) and a scheduler

The step is the scheduler's own counter (`last_epoch`, the number of `step()` calls), as in
torch: an optimizer step that a GradScaler skips still counts once `scheduler.step()` is
called, so the LR stays `job.lr(t)` and never drifts from the job's step.
"""
from __future__ import annotations

import math
import time
from typing import Any, Iterable, Mapping, Sequence

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from lrctl.events import Decision
from lrctl.errors import FailedPrecondition
from lrctl.job import Job, Pulled
from lrctl.step_result import StepResult
from lrctl.tensors import Rows

PARAMETERS_POLL_SECONDS = 0.2
"""How often a rank other than 0 looks whether rank 0 has uploaded the parameters yet."""

# Keys of state_dict(); the optimizer and the job handle (a live channel) are not state.
STATE_KEYS = ("last_epoch", "_step_count", "_last_lr", "base_lrs", "group_scales", "min_lrs", "metric",
              "_stepped_since_report", "_job_lr")


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

    Per group, as torch's ReduceLROnPlateau: a group added with `optimizer.add_param_group`
    mid-training keeps its own LR and follows the job's changes from there (its scale is its
    LR over the job's LR when it first appears), and `min_lrs` (one value, or one per group;
    a group added later takes the single value, else 0) floors each group's LR. A floor holds
    at every step, like the policy's `min_lr`: a group's LR is max(job LR x scale, its min_lr).
    """

    def __init__(self, optimizer: Optimizer, job: Job, last_epoch: int = -1, *,
                 group_scales: Sequence[float] | None = None, min_lrs: float | Sequence[float] = 0.0,
                 metric: str | None = None) -> None:
        groups = len(optimizer.param_groups)
        scales = [1.0] * groups if group_scales is None else [float(s) for s in group_scales]
        if len(scales) != groups:
            raise ValueError(f"Invalid group_scales: {len(scales)} values for {groups} param groups")
        for scale in scales:
            if not (math.isfinite(scale) and scale > 0):
                raise ValueError(f"Invalid group_scales value: {scale}")
        floors = [float(min_lrs)] * groups if isinstance(min_lrs, (int, float)) else [float(m) for m in min_lrs]
        if len(floors) != groups:
            raise ValueError(f"Invalid min_lrs: {len(floors)} values for {groups} param groups")
        for floor in floors:
            if not (math.isfinite(floor) and floor >= 0):
                raise ValueError(f"Invalid min_lrs value: {floor}")
        if metric is not None and not metric:
            raise ValueError("Invalid metric name: ''")
        self.job = job
        self.group_scales = scales
        self.min_lrs = floors
        self._added_group_floor = float(min_lrs) if isinstance(min_lrs, (int, float)) else 0.0
        self.metric = metric
        self.last_decision: Decision | None = None
        self._stepped_since_report = False
        self._job_lr: float | None = None
        super().__init__(optimizer, last_epoch)
        self._stepped_since_report = False

    def step(self, epoch: int | None = None) -> None:  # type: ignore[override]
        self._stepped_since_report = True
        super().step(epoch)

    def get_lr(self) -> list[float]:
        return self._group_lrs(self.job.lr(self.last_epoch))

    # `step(epoch)` (deprecated in torch) jumps to a step; the job's LR is closed-form anyway.
    _get_closed_form_lr = get_lr

    @property
    def should_stop(self) -> bool:
        """The last report's early-stopping decision (False before the first report)."""
        return self.last_decision is not None and self.last_decision.should_stop

    def report(self, metric: float | torch.Tensor | None = None, **metrics: float | torch.Tensor) -> Decision:
        """One report at the current step, like `ReduceLROnPlateau.step(metric)`; the decided LR
        applies at once. With no `step()` since the previous report (or since construction),
        the report is the next step, as ReduceLROnPlateau.step(metric) counts its own epochs:
        a loop that only reports gets steps 1, 2, 3, ... A bare `metric` is named after the job's plateau metric (else its
        early-stopping metric). Reporting a step again returns the first decision, which is what
        makes replaying from an older checkpoint safe."""
        values = {name: float(value) for name, value in metrics.items()}
        if metric is not None:
            values[self._metric_name()] = float(metric)
        if not values:
            raise ValueError("report() needs a metric value")
        if not self._stepped_since_report:
            self.last_epoch += 1  # a plateau-only loop: each report is the next epoch, as in torch
        self._stepped_since_report = False
        decision = self.job.report(self.last_epoch, values)
        self.last_decision = decision
        self._apply(self._group_lrs(decision.lr))
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

    def _group_lrs(self, job_lr: float) -> list[float]:
        """Each group's LR for the job's LR `job_lr`, after taking in groups added since the last
        call: such a group's scale is its own LR over the job's LR last applied."""
        groups = self.optimizer.param_groups
        last = job_lr if self._job_lr is None else self._job_lr
        for group in groups[len(self.group_scales):]:
            self.group_scales.append(float(group["lr"]) / last if last > 0 else 1.0)
            self.min_lrs.append(self._added_group_floor)
        self._job_lr = job_lr
        return [max(job_lr * scale, floor) for scale, floor in zip(self.group_scales, self.min_lrs, strict=True)]

    def _apply(self, lrs: Sequence[float]) -> None:
        set_group_lrs(self.optimizer, lrs)
        self._last_lr = [group["lr"].clone() if isinstance(group["lr"], torch.Tensor) else group["lr"]
                         for group in self.optimizer.param_groups]


NamedParams = torch.nn.Module | Iterable[torch.Tensor] | Iterable[tuple[str, torch.Tensor]]


def named_params(params: NamedParams) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) pairs: a module's `named_parameters()`, the pairs given, or "p0", "p1", ..."""
    if isinstance(params, torch.nn.Module):
        return list(params.named_parameters())
    items = list(params)
    if any(isinstance(item, dict) for item in items):
        raise ValueError("Invalid params: param group dicts are not supported (the job's optimizer has one "
                         "set of hyperparameters); pass a module, tensors or (name, tensor) pairs")
    if all(isinstance(item, tuple) for item in items):
        return [(str(name), tensor) for name, tensor in items]
    return [(f"p{index}", tensor) for index, tensor in enumerate(items)]


class RemoteOptimizer(Optimizer):
    """An `Optimizer` whose `step()` sends every `.grad` to the job and writes back what the
    server's optimizer (the job's `optimizer` spec, under the job's LR policy) returns.

    The parameters are uploaded at construction, unless the server already stepped them: then
    the server's parameters and step are loaded into the model (resuming after a restart).
    `param_groups[0]["lr"]` is always the LR the next step will use, as with a local optimizer
    and its scheduler, so loggers and LR monitors keep working; setting it changes nothing.
    Sparse gradients (`nn.Embedding(sparse=True)`) go as their rows and are updated lazily,
    like torch.optim.SparseAdam; dense ones go whole. The server replies with what it changed:
    the dense tensors and the touched rows. A parameter whose `.grad` is None is not sent and
    does not change, as with torch.optim. `last_result` is the last step's StepResult (its LR,
    and whether the server skipped it for a NaN/inf gradient, which also warns).

    Data-parallel (a job whose optimizer spec has `workers` > 1): give each process its
    `rank`. Each rank computes gradients on its own share of the batch; the server waits for
    every rank, reduces their gradients (mean by default, as DDP) and steps once, and every
    rank writes back the same parameters. Rank 0 uploads the initial parameters (unless the job
    has them already); the other ranks wait for them (up to `wait_seconds`) and load them, so
    every rank starts from the same values, as DDP broadcasts rank 0's. Every rank takes part
    in every step, with an empty gradient if it has none.
    """

    def __init__(self, params: NamedParams, job: Job, *, rank: int | None = None, wire_dtype: str = "float32",
                 chunk_bytes: int | None = None, wait_seconds: float = 60.0) -> None:
        named = named_params(params)
        if not named:
            raise ValueError("Invalid params: RemoteOptimizer got an empty parameter list")
        names = [name for name, _ in named]
        if len(set(names)) != len(names):
            raise ValueError(f"Invalid params: duplicate parameter names in {names}")
        self.job = job
        self.rank = rank
        self.names = names
        self.wire_options: dict[str, Any] = {"wire_dtype": wire_dtype}
        if chunk_bytes is not None:
            self.wire_options["chunk_bytes"] = chunk_bytes
        self.step_count = 0
        self.last_lr: float | None = None
        self.last_result: StepResult | None = None
        super().__init__([tensor for _, tensor in named], {"lr": 0.0})
        self._sync(wait_seconds)

    def _named(self) -> list[tuple[str, torch.Tensor]]:
        return list(zip(self.names, self.param_groups[0]["params"], strict=True))

    def _sync(self, wait_seconds: float) -> None:
        """Uploads the parameters, or loads the server's when it has already stepped them (or,
        on a rank other than 0, once rank 0 uploaded them)."""
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                pulled = self.job.pull(**self.wire_options)
                break
            except FailedPrecondition:  # the job has no parameters yet
                if not self.rank:
                    pulled = Pulled(0, {})
                    break
                if time.monotonic() > deadline:
                    raise
                time.sleep(PARAMETERS_POLL_SECONDS)
        if pulled.step > 0 or self.rank:
            missing = set(self.names) - set(pulled.params)
            if missing:
                raise ValueError(f"job {self.job.job_id!r} is at step {pulled.step} but has no "
                                 f"parameters named {sorted(missing)}")
            self._write(pulled.params)
        else:
            self.job.init_params({name: tensor.detach().cpu().numpy() for name, tensor in self._named()},
                                 **self.wire_options)
        self.step_count = pulled.step
        self._set_lr()

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        """Sends the gradients of this step; parameters without a gradient are not sent."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with_grads = [(name, tensor.grad) for name, tensor in self._named() if tensor.grad is not None]
        if not with_grads and self.rank is None:
            return loss
        grads: dict[str, Any] = {}
        for name, grad in with_grads:
            if grad.is_sparse:
                grad = grad.coalesce()
                grads[name] = Rows(grad.indices()[0].cpu().numpy(), grad.values().cpu().numpy(), tuple(grad.shape))
            else:
                grads[name] = grad.detach().cpu().numpy()
        result = self.job.step(self.step_count, grads, rank=self.rank or 0, reply="touched", **self.wire_options)
        self._write(result.params or {})
        self.step_count = result.server_step
        self.last_lr = result.lr
        self.last_result = result
        self._set_lr()
        return loss

    @torch.no_grad()
    def _write(self, values: Mapping[str, Any]) -> None:
        """Copies the server's tensors into the parameters in place: `copy_` from a zero-copy
        `from_numpy` view is the one copy a numpy assignment would make, and it also bumps
        autograd's version counter and works on any device."""
        for name, tensor in self._named():
            value = values.get(name)
            if value is None:
                continue
            if isinstance(value, Rows):
                rows = torch.from_numpy(value.rows).to(tensor.device)
                tensor.index_copy_(0, rows, torch.from_numpy(value.values).to(tensor.device, tensor.dtype))
            else:
                tensor.copy_(torch.from_numpy(value).reshape(tensor.shape))

    def _set_lr(self) -> None:
        set_group_lrs(self, [self.job.lr(self.step_count)])

    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        """The step and the job id (the optimizer state lives on the server, in the job)."""
        return {"step": self.step_count, "job_id": self.job.job_id}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # type: ignore[override]
        """Resumes at the saved step; the server's parameters are those of that step only if the
        job was not stepped since (a step the server does not expect raises FailedPrecondition)."""
        saved_job = state_dict.get("job_id", self.job.job_id)
        if saved_job != self.job.job_id:
            raise ValueError(f"Invalid state_dict: it was saved for job {saved_job!r}, this optimizer drives "
                             f"job {self.job.job_id!r}")
        self.step_count = int(state_dict["step"])
        self._set_lr()
