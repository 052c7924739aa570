"""lrctl.keras.LrctlCallback in a real Keras 3 fit (torch backend) against a real server."""
from __future__ import annotations

import os
import uuid

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "torch"
keras = pytest.importorskip("keras", reason="keras is not installed (pip install keras)")
if keras.backend.backend() != "torch":
    pytest.skip(f"keras was already imported with the {keras.backend.backend()} backend", allow_module_level=True)

import lrctl  # noqa: E402
from lrctl.keras import LrctlCallback  # noqa: E402

# Keras' torch backend converts tensors with np.array(x), which numpy 2 flags; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

SAMPLES, BATCH = 128, 16
STEPS_PER_EPOCH = SAMPLES // BATCH


class LrRecorder(keras.callbacks.Callback):
    """The LR each batch trains with (runs after LrctlCallback has set it)."""

    def __init__(self) -> None:
        super().__init__()
        self.lrs: list[float] = []

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.lrs.append(float(self.model.optimizer.learning_rate))


def fit(job: lrctl.Job, epochs: int, **callback_args: object) -> tuple[keras.callbacks.History, LrRecorder]:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], dtype="float32") + rng.normal(size=(SAMPLES, 1)).astype("float32"))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
    recorder = LrRecorder()
    history = model.fit(x, y, batch_size=BATCH, epochs=epochs, validation_data=(x[:32], y[:32]), shuffle=False,
                        verbose=0, callbacks=[LrctlCallback(job, **callback_args), recorder])
    return history, recorder


def test_every_batch_trains_with_the_jobs_lr_and_reports_apply(client: lrctl.Client) -> None:
    # An absolute threshold no improvement can beat: every report after the first reduces the LR.
    job = client.create_job(f"keras-{uuid.uuid4().hex[:12]}", {
        "lr": 0.05, "warmup": {"steps": 5, "start_factor": 0.2}, "schedule": {"cosine": {"t_max": 40}},
        "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 0, "threshold": 1e9, "threshold_mode": "abs"}})
    history, recorder = fit(job, epochs=4)
    steps = 4 * STEPS_PER_EPOCH
    info = job.info()
    assert info.last_report_step == steps and info.plateau.reductions == 3
    # A report at step t changes the LR from t on, never before, so the job's LRs now are the ones applied.
    expected = np.array([job.lr(t) for t in range(steps)], dtype=np.float32)
    np.testing.assert_array_equal(np.array(recorder.lrs, dtype=np.float32), expected)
    assert history.history["learning_rate"] == pytest.approx(
        [np.float32(job.lr(STEPS_PER_EPOCH * e)) for e in range(1, 5)], rel=1e-6)


def test_early_stop_decision_stops_training(client: lrctl.Client) -> None:
    # Watching a falling loss for a rise: the second report is no improvement, and patience is 0.
    job = client.create_job(f"keras-stop-{uuid.uuid4().hex[:12]}", {
        "lr": 0.01, "early_stopping": {"metric": "val_loss", "mode": "max", "patience": 0}})
    history, _ = fit(job, epochs=5)
    assert len(history.history["loss"]) == 2
    info = job.info()
    assert info.early_stopping.should_stop and info.early_stopping.stopped_step == 2 * STEPS_PER_EPOCH


def test_named_metrics_and_missing_ones(client: lrctl.Client) -> None:
    job = client.create_job(f"keras-named-{uuid.uuid4().hex[:12]}", {
        "lr": 0.01, "plateau": {"metric": "loss", "patience": 0}})
    with pytest.warns(UserWarning, match="no val_accuracy in the epoch logs"):
        fit(job, epochs=2, metrics=["loss", "val_accuracy"])
    assert job.info().last_report_step == 2 * STEPS_PER_EPOCH
    with pytest.raises(ValueError, match="Invalid metrics"):
        LrctlCallback(job, metrics="val_loss")
