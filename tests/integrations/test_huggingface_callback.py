"""lrctl.huggingface.LrctlTrainerCallback in a real transformers Trainer run against a real server.

The model is a small torch module built here; nothing is downloaded (HF_HUB_OFFLINE=1).
"""
from __future__ import annotations

import os
import pathlib
import uuid

import pytest
import torch

os.environ["HF_HUB_OFFLINE"] = "1"
transformers = pytest.importorskip("transformers", reason="transformers is not installed (pip install transformers)")
pytest.importorskip("accelerate", reason="the Trainer needs accelerate (pip install accelerate)")

import lrctl  # noqa: E402
from lrctl.huggingface import LrctlTrainerCallback  # noqa: E402

SAMPLES, BATCH = 64, 8
STEPS_PER_EPOCH = SAMPLES // BATCH


class TinyRegressor(torch.nn.Module):
    """What the Trainer needs from a model: keyword inputs in, a dict with the loss out."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": torch.nn.functional.mse_loss(self.net(x), labels)}


class Examples(torch.utils.data.Dataset):
    def __init__(self, count: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(count, 4, generator=generator)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]]) + 0.3 * torch.randn(count, 1, generator=generator)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


class LrRecorder(transformers.TrainerCallback):
    """The LR each optimizer step uses (runs after LrctlTrainerCallback has set it)."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):  # noqa: ANN001, ANN201
        self.lrs.append(optimizer.param_groups[0]["lr"])


def train(job: lrctl.Job, output_dir: pathlib.Path, epochs: int) -> tuple[transformers.Trainer, LrRecorder]:
    args = transformers.TrainingArguments(
        output_dir=str(output_dir), num_train_epochs=epochs, per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=BATCH, learning_rate=1.0, eval_strategy="epoch", logging_steps=1,
        save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, remove_unused_columns=False,
        dataloader_num_workers=0, seed=0)
    recorder = LrRecorder()
    trainer = transformers.Trainer(model=TinyRegressor(), args=args, train_dataset=Examples(SAMPLES, 0),
                                   eval_dataset=Examples(16, 1), callbacks=[LrctlTrainerCallback(job), recorder])
    trainer.train()
    return trainer, recorder


def test_every_step_uses_the_jobs_lr_and_evaluations_report(client: lrctl.Client, tmp_path: pathlib.Path) -> None:
    # An absolute threshold no improvement can beat: every report after the first reduces the LR.
    job = client.create_job(f"hf-{uuid.uuid4().hex[:12]}", {
        "lr": 0.05, "warmup": {"steps": 4, "start_factor": 0.25}, "schedule": {"cosine": {"t_max": 30}},
        "plateau": {"metric": "eval_loss", "factor": 0.5, "patience": 0, "threshold": 1e9, "threshold_mode": "abs"}})
    trainer, recorder = train(job, tmp_path, epochs=3)
    steps = 3 * STEPS_PER_EPOCH
    info = job.info()
    assert info.last_report_step == steps and info.plateau.reductions == 2
    # A report at step t changes the LR from t on, never before, so the job's LRs now are the ones applied.
    assert recorder.lrs == [job.lr(t) for t in range(steps)]
    logged = {entry["step"]: entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry}
    assert logged == {t + 1: job.lr(t) for t in range(steps)}, "the Trainer logs the LR each step used"
    reported = [e for e in job.events() if e.kind == "reduced"]
    assert [e.step for e in reported] == [2 * STEPS_PER_EPOCH, 3 * STEPS_PER_EPOCH]


def test_early_stop_decision_stops_the_trainer(client: lrctl.Client, tmp_path: pathlib.Path) -> None:
    # Watching a falling loss for a rise: the second evaluation is no improvement, and patience is 0.
    job = client.create_job(f"hf-stop-{uuid.uuid4().hex[:12]}", {
        "lr": 0.01, "early_stopping": {"metric": "eval_loss", "mode": "max", "patience": 0}})
    trainer, _ = train(job, tmp_path, epochs=5)
    assert trainer.state.global_step == 2 * STEPS_PER_EPOCH
    assert job.info().early_stopping.stopped_step == 2 * STEPS_PER_EPOCH


def test_default_metrics_leave_out_the_timings(client: lrctl.Client) -> None:
    callback = LrctlTrainerCallback(client.job("unused"))
    picked = callback._pick({"eval_loss": 0.5, "eval_acc": 0.9, "eval_runtime": 1.2, "eval_samples_per_second": 3.0,
                             "eval_steps_per_second": 1.0, "epoch": 1.0})
    assert picked == {"eval_loss": 0.5, "eval_acc": 0.9}
    assert LrctlTrainerCallback(client.job("unused"), metrics=["eval_acc"])._pick({"eval_acc": 0.9, "eval_loss": 1}) \
        == {"eval_acc": 0.9}
