"""PyTorch Lightning integration: `LrctlCallback`, which drives a Trainer's LR from an lrctl job.

    trainer = Trainer(max_epochs=20, callbacks=[LrctlCallback(job)])

The step is `trainer.global_step`, the number of optimizer steps taken: under gradient
accumulation the LR moves once per optimizer step, as a torch scheduler with
`"interval": "step"` does, and `Trainer.fit(ckpt_path=...)` resumes the job's step with the
checkpoint. Uses `lightning.pytorch` when the `lightning` package is installed, else the
older `pytorch_lightning`.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

try:
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.callbacks import Callback
except ImportError:  # only the older distribution, pytorch-lightning, is installed
    from pytorch_lightning import LightningModule, Trainer  # type: ignore[no-redef]
    from pytorch_lightning.callbacks import Callback  # type: ignore[no-redef]

from lrctl.events import Decision
from lrctl.job import Job
from lrctl.torch import set_group_lrs

VALIDATION_PREFIXES = ("val_", "val/")


class LrctlCallback(Callback):
    """Before every training batch, sets each optimizer's LR to `job.lr(global_step)`; after
    each validation (not the sanity check), reports the validation metrics at `global_step`,
    applies the decided LR and sets `trainer.should_stop` when the job says stop.

    `metrics`: the logged names to report; by default every `val_*` and `val/*` entry of
    `trainer.callback_metrics`. Configure no LR scheduler of your own: this callback sets
    the LR before every batch, so another scheduler would be overwritten.
    """

    def __init__(self, job: Job, metrics: Sequence[str] | None = None) -> None:
        if metrics is not None and (isinstance(metrics, str) or not all(metrics)):
            raise ValueError(f"Invalid metrics: {metrics!r} (give a sequence of logged names)")
        self.job = job
        self.metrics = tuple(metrics) if metrics is not None else None
        self.last_decision: Decision | None = None
        self._warned_missing = False

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self._apply(trainer, self.job.lr(trainer.global_step))

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        values = self._pick(trainer.callback_metrics)
        if not values:
            return
        decision = self.job.report(trainer.global_step, values)
        self.last_decision = decision
        self._apply(trainer, decision.lr)
        if decision.should_stop:
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        """The job id, so that resuming another job's checkpoint is refused (the step is the
        Trainer's own and the job's state is on the server)."""
        return {"job_id": self.job.job_id}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved_job = state_dict.get("job_id", self.job.job_id)
        if saved_job != self.job.job_id:
            raise ValueError(f"Invalid checkpoint: it was saved for job {saved_job!r}, this callback drives "
                             f"job {self.job.job_id!r}")

    def _pick(self, logged: Mapping[str, Any]) -> dict[str, float]:
        names = self.metrics if self.metrics is not None else [n for n in logged if n.startswith(VALIDATION_PREFIXES)]
        values = {name: float(logged[name]) for name in names if name in logged}
        if not values and not self._warned_missing:
            self._warned_missing = True
            wanted = ", ".join(names) if names else "val_* (log them with self.log in validation_step)"
            warnings.warn(f"LrctlCallback: no {wanted} among the logged metrics ({', '.join(sorted(logged))}); "
                          "nothing is reported", stacklevel=2)
        return values

    @staticmethod
    def _apply(trainer: Trainer, lr: float) -> None:
        for optimizer in trainer.optimizers:
            set_group_lrs(optimizer, [lr] * len(optimizer.param_groups))
