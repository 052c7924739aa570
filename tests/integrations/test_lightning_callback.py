"""`lrctl.lightning.LrctlCallback` in real `Trainer.fit` runs on the CPU, value for value
against Lightning driving torch's own schedulers (and its EarlyStopping) in the same test:
under gradient accumulation, with plateau reductions and early stopping, and resumed from a
checkpoint."""
from __future__ import annotations

import itertools
import pathlib
from typing import Any, Callable

import pytest
import torch

lightning = pytest.importorskip("lightning.pytorch")

import lrctl  # noqa: E402
from lrctl.lightning import LrctlCallback  # noqa: E402

SCHEDULE = {"lr": 0.1, "warmup": {"steps": 4, "start_factor": 0.1},
            "schedule": {"cosine_restarts": {"t_0": 6, "t_mult": 2, "eta_min": 0.001}}}
PLATEAU = {"lr": 0.1, "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 0, "threshold": 0.3},
           "early_stopping": {"metric": "val_loss", "patience": 3, "min_delta": 0.01}}
BATCHES, BATCH = 10, 4
_ids = itertools.count()


class Tiny(lightning.LightningModule):
    """A 4-8-1 MLP on fixed data; records the LR of every optimizer step it takes."""

    def __init__(self, scheduler: Callable[[torch.optim.Optimizer], dict[str, Any]] | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        self.scheduler = scheduler
        self.lrs: list[float] = []

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        self.lrs.append(optimizer.param_groups[0]["lr"])

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
        if self.scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler(optimizer)}


def loaders() -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(BATCHES * BATCH + 16, 4, generator=generator)
    y = torch.sin(x.sum(1, keepdim=True))
    train = torch.utils.data.TensorDataset(x[:-16], y[:-16])
    validation = torch.utils.data.TensorDataset(x[-16:], y[-16:])
    return torch.utils.data.DataLoader(train, batch_size=BATCH), torch.utils.data.DataLoader(validation, batch_size=8)


def fit(model: Tiny, epochs: int, callbacks: list[Any], ckpt_path: str | None = None,
        **options: Any) -> lightning.Trainer:
    trainer = lightning.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                                enable_checkpointing=any(isinstance(c, lightning.callbacks.ModelCheckpoint)
                                                         for c in callbacks),
                                enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks,
                                accumulate_grad_batches=2, **options)
    trainer.fit(model, *loaders(), ckpt_path=ckpt_path)
    return trainer


def torch_schedule(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=4)
    restarts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=6, T_mult=2, eta_min=0.001)
    return {"scheduler": torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, restarts], milestones=[4]),
            "interval": "step"}


def torch_plateau(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0, threshold=0.3)
    return {"scheduler": plateau, "interval": "epoch", "monitor": "val_loss"}


def assert_same_run(ours: Tiny, theirs: Tiny) -> None:
    assert len(ours.lrs) == len(theirs.lrs)
    torch.testing.assert_close(torch.tensor(ours.lrs, dtype=torch.float64),
                               torch.tensor(theirs.lrs, dtype=torch.float64), rtol=1e-12, atol=0)
    for mine, peer in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(mine, peer, rtol=1e-6, atol=1e-7)


def job(client: lrctl.Client, policy: dict[str, Any]) -> lrctl.Job:
    return client.create_job(f"lightning-{next(_ids)}", policy)


def test_schedule_under_gradient_accumulation(client: lrctl.Client) -> None:
    """One LR per optimizer step (every 2 batches), as torch's SequentialLR stepped by Lightning."""
    ours, theirs = Tiny(), Tiny(torch_schedule)
    fit(ours, 4, [LrctlCallback(job(client, SCHEDULE))])
    fit(theirs, 4, [])
    assert len(ours.lrs) == 4 * BATCHES // 2
    assert_same_run(ours, theirs)


def test_plateau_and_early_stopping_through_should_stop(client: lrctl.Client) -> None:
    """Reports from on_validation_end drive ReduceLROnPlateau's reductions, and the job's stop
    decision ends fit() at the epoch Lightning's own EarlyStopping ends it."""
    ours, theirs = Tiny(), Tiny(torch_plateau)
    callback = LrctlCallback(job(client, PLATEAU))
    mine = fit(ours, 30, [callback])
    peer = fit(theirs, 30, [lightning.callbacks.EarlyStopping("val_loss", min_delta=0.01, patience=3)])
    assert callback.last_decision is not None and callback.last_decision.should_stop
    assert mine.current_epoch == peer.current_epoch < 30 and mine.global_step == peer.global_step
    assert len(set(ours.lrs)) > 1, "the plateau reduced the LR"
    assert_same_run(ours, theirs)


def test_resuming_from_a_checkpoint_continues_the_job(client: lrctl.Client, tmp_path: pathlib.Path) -> None:
    whole = Tiny()
    fit(whole, 4, [LrctlCallback(job(client, SCHEDULE))])

    resumed_job = job(client, SCHEDULE)
    checkpoints = lightning.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)
    fit(Tiny(), 2, [LrctlCallback(resumed_job), checkpoints])
    last = str(tmp_path / "last.ckpt")
    with pytest.raises(ValueError, match="saved for job"):
        fit(Tiny(), 4, [LrctlCallback(job(client, SCHEDULE))], ckpt_path=last)
    second_half = Tiny()
    fit(second_half, 4, [LrctlCallback(client.get_job(resumed_job.job_id))], ckpt_path=last)
    assert second_half.lrs == whole.lrs[2 * BATCHES // 2:]
    for mine, peer in zip(second_half.parameters(), whole.parameters(), strict=True):
        torch.testing.assert_close(mine, peer, rtol=1e-6, atol=1e-7)
