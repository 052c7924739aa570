"""Hugging Face integration: `LrctlTrainerCallback`, which drives a Trainer's LR from an lrctl job.

    trainer = Trainer(model, args, train_dataset=..., eval_dataset=..., callbacks=[LrctlTrainerCallback(job)])

The step is the Trainer's `state.global_step` (optimizer steps taken), so `resume_from_checkpoint`
resumes the job's step too, and evaluations replayed after a resume get their first decisions.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from lrctl.events import Decision
from lrctl.job import Job
from lrctl.torch import set_group_lrs

EVAL_PREFIX = "eval_"
# Timing figures the Trainer adds to every evaluation's metrics; not model metrics.
TIMING_SUFFIXES = ("_runtime", "_per_second", "_preparation_time")


class LrctlTrainerCallback(TrainerCallback):
    """At each step's start, sets every param group's LR to `job.lr(global_step)`; after each
    evaluation, reports the metrics, applies the decided LR and stops training when told to.

    `metrics`: the evaluation metrics to report; by default every `eval_*` one but the timings.
    The Trainer's own scheduler keeps running but no longer decides anything: its LR is
    overwritten before every step, and the `learning_rate` the Trainer logs is the job's.
    """

    def __init__(self, job: Job, metrics: Sequence[str] | None = None) -> None:
        if metrics is not None and (isinstance(metrics, str) or not all(metrics)):
            raise ValueError(f"Invalid metrics: {metrics!r} (give a sequence of metric names)")
        self.job = job
        self.metrics = tuple(metrics) if metrics is not None else None
        self.last_decision: Decision | None = None

    def on_step_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                      optimizer: torch.optim.Optimizer | None = None, lr_scheduler: Any = None, **kwargs: Any) -> None:
        self._apply(self.job.lr(state.global_step), optimizer, lr_scheduler)

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    metrics: Mapping[str, float] | None = None, optimizer: torch.optim.Optimizer | None = None,
                    lr_scheduler: Any = None, **kwargs: Any) -> None:
        values = self._pick(metrics or {})
        if not values:
            return
        decision = self.job.report(state.global_step, values)
        self.last_decision = decision
        self._apply(decision.lr, optimizer, lr_scheduler)
        if decision.should_stop:
            control.should_training_stop = True

    def _pick(self, metrics: Mapping[str, float]) -> dict[str, float]:
        if self.metrics is not None:
            return {name: float(metrics[name]) for name in self.metrics if name in metrics}
        return {name: float(value) for name, value in metrics.items()
                if name.startswith(EVAL_PREFIX) and not name.endswith(TIMING_SUFFIXES)}

    @staticmethod
    def _apply(lr: float, optimizer: torch.optim.Optimizer | None, lr_scheduler: Any) -> None:
        if optimizer is None:
            return
        set_group_lrs(optimizer, [lr] * len(optimizer.param_groups))
        # The Trainer logs `lr_scheduler.get_last_lr()` right after the optimizer step, before
        # its scheduler steps; torch's get_last_lr() returns `_last_lr`.
        if isinstance(getattr(lr_scheduler, "_last_lr", None), list):
            lr_scheduler._last_lr = [lr] * len(optimizer.param_groups)
