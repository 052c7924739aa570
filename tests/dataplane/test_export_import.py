"""A whole job as one portable file: export, delete, import, and the run goes on as if
nothing happened; files that are not exports (or would need pickle) are refused."""
from __future__ import annotations

import io
import pathlib

import numpy as np
import pytest

import lrctl

SHAPES = {"w": (32, 16), "b": (16,)}
POLICY = {"lr": 0.05, "warmup": {"steps": 4}, "schedule": {"cosine": {"t_max": 30}},
          "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 0}}
OPTIMIZER = {"adam": {"amsgrad": True}, "global_clipnorm": 5.0}
STEPS, EXPORT_AT = 30, 15


def params() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def grads(step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(step + 1)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def train(job: lrctl.Job, steps: range) -> tuple[dict[str, np.ndarray], list[float]]:
    lrs = []
    for step in steps:
        result = job.step(step, grads(step))
        last = result.params
        lrs.append(result.lr)
        if step % 5 == 4:
            job.report(step + 1, val_loss=1.0 + (step % 3))  # flat/rising loss: plateau reductions
    return last, lrs


FACTORED = {"adafactor": {"weight_decay": 1e-2}}
"""Adafactor keeps slots shaped per tensor (w's row and column factors, b's full variance)."""


@pytest.mark.parametrize("optimizer", [OPTIMIZER, FACTORED], ids=["adam", "adafactor"])
def test_export_delete_import_continues_like_an_uninterrupted_run(client: lrctl.Client, tmp_path: pathlib.Path,
                                                                  optimizer: dict) -> None:
    kind = next(iter(optimizer))
    reference = client.create_job(f"uninterrupted-{kind}", POLICY, optimizer=optimizer)
    reference.init_params(params())
    expected, expected_lrs = train(reference, range(STEPS))

    job = client.create_job(f"moved-{kind}", POLICY, optimizer=optimizer)
    job.init_params(params())
    _, lrs = train(job, range(EXPORT_AT))
    assert job.export(tmp_path / "moved.npz") > 0
    with np.load(tmp_path / "moved.npz", allow_pickle=False) as exported:
        slots = {name: exported[name].size for name in exported.files if name.startswith("state.")}
    assert slots == ({"state.row_var": 32, "state.col_var": 16, "state.variance": 16} if kind == "adafactor" else
                     {f"state.{name}": 32 * 16 + 16 for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")})
    client.delete_job(f"moved-{kind}")
    imported = client.import_job(tmp_path / "moved.npz")
    assert imported.job_id == f"moved-{kind}" and imported.pull().step == EXPORT_AT
    final, more_lrs = train(imported, range(EXPORT_AT, STEPS))

    assert lrs + more_lrs == expected_lrs
    assert imported.info().plateau.reductions == reference.info().plateau.reductions > 0
    for name in SHAPES:
        np.testing.assert_array_equal(final[name], expected[name])


def test_import_under_another_id_and_refusals(client: lrctl.Client, tmp_path: pathlib.Path) -> None:
    job = client.create_job("original", POLICY, optimizer=OPTIMIZER)
    job.init_params(params())
    job.step(0, grads(0))
    path = tmp_path / "original.npz"
    job.export(path)
    with pytest.raises(lrctl.AlreadyExists):
        client.import_job(path)
    copy = client.import_job(path, "copy")
    step, copied = copy.pull()
    assert step == 1
    for name, value in job.pull().params.items():
        np.testing.assert_array_equal(copied[name], value)

    plain = client.create_job("plain-export", POLICY)
    plain.export(tmp_path / "plain.npz")
    assert client.import_job(tmp_path / "plain.npz", "plain-import").info().spec.policy.lr == POLICY["lr"]


def _pickled_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array({"format": "lrctl.job-export/1"}, dtype=object), params=np.zeros(3, np.float32))
    return buffer.getvalue()


@pytest.mark.parametrize("content", [b"not a zip file", _pickled_npz()], ids=["garbage", "pickle"])
def test_files_that_are_not_exports_are_refused(client: lrctl.Client, tmp_path: pathlib.Path,
                                                content: bytes) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(lrctl.InvalidArgument):
        client.import_job(path, "bad-import")
    with pytest.raises(lrctl.NotFound):
        client.get_job("bad-import")
