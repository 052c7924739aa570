"""Keras 3 integration: `LrctlCallback`, which drives a model's LR from an lrctl job.

    model.fit(x, y, validation_data=(xv, yv), epochs=20, callbacks=[LrctlCallback(job)])

Works on every Keras backend. The step is the optimizer's `iterations` (the number of applied
updates), so resuming from a checkpoint resumes the job's step too. With
`steps_per_execution` > 1, Keras runs batch hooks once per execution, and the LR changes at
that granularity.
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import keras

from lrctl.events import Decision
from lrctl.job import Job

VALIDATION_PREFIX = "val_"


class LrctlCallback(keras.callbacks.Callback):
    """Before each batch, sets the optimizer's LR to `job.lr(iterations)`; at each epoch end,
    reports metrics to the job, applies the decided LR and stops training when told to.

    `metrics`: the log entries to report; by default every `val_*` entry. NaN/inf values go to
    the job as they are, whose `on_nonfinite_metric` decides. The LR in force lands in the
    epoch's logs as `learning_rate`, as with Keras' own ReduceLROnPlateau.
    """

    def __init__(self, job: Job, metrics: Sequence[str] | None = None) -> None:
        super().__init__()
        if metrics is not None and (isinstance(metrics, str) or not all(metrics)):
            raise ValueError(f"Invalid metrics: {metrics!r} (give a sequence of log names)")
        self.job = job
        self.metrics = tuple(metrics) if metrics is not None else None
        self.last_decision: Decision | None = None
        self._warned_missing = False

    @property
    def step(self) -> int:
        return int(self.model.optimizer.iterations)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._set_lr(self.job.lr(self.step))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        values = self._pick(logs)
        if values:
            decision = self.job.report(self.step, values)
            self.last_decision = decision
            self._set_lr(decision.lr)
            if decision.should_stop:
                self.model.stop_training = True
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)

    def _pick(self, logs: dict[str, Any]) -> dict[str, float]:
        names = self.metrics if self.metrics is not None else [n for n in logs if n.startswith(VALIDATION_PREFIX)]
        values = {name: float(logs[name]) for name in names if name in logs}
        missing = [name for name in names if name not in logs] if self.metrics is not None else []
        if (missing or not values) and not self._warned_missing:
            self._warned_missing = True
            wanted = ", ".join(missing) if missing else "val_* (pass validation_data, or metrics=[...])"
            warnings.warn(f"LrctlCallback: no {wanted} in the epoch logs ({', '.join(sorted(logs))}); "
                          "those metrics are not reported", stacklevel=2)
        return values

    def _set_lr(self, lr: float) -> None:
        self.model.optimizer.learning_rate = lr
