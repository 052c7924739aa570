"""Step is exactly once, and every bad input is refused with nothing applied (DESIGN §2, §7)."""
from __future__ import annotations

import itertools
import threading
import warnings

import numpy as np
import pytest

import lrctl
from lrctl.v1 import optimizer_pb2
from tests.dataplane import _raw

SHAPES = {"w": (6, 5), "b": (5,)}
_ids = itertools.count()


def params() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def grads(seed: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def new_job(client: lrctl.Client, steps: int = 2, **optimizer) -> lrctl.Job:
    job = client.create_job(f"contract-{next(_ids)}", {"lr": 0.1}, optimizer={"adam": {}, **optimizer})
    job.init_params(params())
    for step in range(steps):
        job.step(step, grads(step))
    return job


def assert_unchanged(job: lrctl.Job, before: lrctl.Pulled) -> None:
    after = job.pull()
    assert after.step == before.step
    for name, value in before.params.items():
        np.testing.assert_array_equal(after.params[name], value)


def test_retry_returns_the_same_parameters_and_applies_nothing(client: lrctl.Client) -> None:
    job = new_job(client, steps=0)
    first = job.step(0, grads())
    assert not first.duplicate and first.server_step == 1
    again = job.step(0, grads(99))
    assert again.duplicate and again.server_step == 1
    for name in SHAPES:
        np.testing.assert_array_equal(again.params[name], first.params[name])
    assert job.pull().step == 1
    assert job.step(1, grads()).server_step == 2


@pytest.mark.parametrize("requested", [5, 3, 0])
def test_future_and_stale_steps_are_refused_with_the_server_step(client: lrctl.Client, requested: int) -> None:
    job = new_job(client, steps=3)
    before = job.pull()
    with pytest.raises(lrctl.FailedPrecondition) as error:
        job.step(requested + (requested == 3), grads())
    assert error.value.server_step == 3
    assert_unchanged(job, before)


def _bad_inputs() -> dict[str, tuple[list, type, str]]:
    w, b = np.ones(30, np.float32), np.ones(5, np.float32)
    half = np.ones(15, np.float32)
    return {
        "unknown tensor": ([_raw.chunk("w", (6, 5), w), _raw.chunk("b", (5,), b), _raw.chunk("x", (1,), [1.0])],
                           lrctl.InvalidArgument, "chunks[x].name"),
        "shape mismatch": ([_raw.chunk("w", (5, 6), w), _raw.chunk("b", (5,), b)],
                           lrctl.InvalidArgument, "chunks[w].shape"),
        "unknown dtype": ([_raw.chunk("w", (6, 5), w, dtype=0), _raw.chunk("b", (5,), b)],
                          lrctl.InvalidArgument, "chunks[w].dtype"),
        "mixed dtypes": ([_raw.chunk("w", (6, 5), half), _raw.chunk("b", (5,), b),
                          _raw.chunk("w", (6, 5), half.astype(np.float16).tobytes(), offset=15,
                                     dtype=optimizer_pb2.DTYPE_FLOAT16)],
                         lrctl.InvalidArgument, "chunks[w].dtype"),
        "partial element": ([_raw.chunk("w", (6, 5), w.tobytes()[:-1]), _raw.chunk("b", (5,), b)],
                            lrctl.InvalidArgument, "chunks[w].data"),
        "chunk overrun": ([_raw.chunk("w", (6, 5), half, offset=20), _raw.chunk("w", (6, 5), half),
                           _raw.chunk("b", (5,), b)], lrctl.InvalidArgument, "chunks[w].offset"),
        "missing elements": ([_raw.chunk("w", (6, 5), half), _raw.chunk("b", (5,), b)],
                             lrctl.InvalidArgument, "chunks[w]"),
        "overlapping chunks": ([_raw.chunk("w", (6, 5), w), _raw.chunk("w", (6, 5), half),
                                _raw.chunk("b", (5,), b)], lrctl.InvalidArgument, "chunks[w]"),
        "a tensor dense, then as rows": ([_raw.chunk("w", (6, 5), w), _raw.chunk("b", (5,), b),
                                          _raw.chunk("w", (6, 5), np.ones(5), rows=[1])],
                                         lrctl.InvalidArgument, "chunks[w].rows"),
        "a tensor as rows, then dense": ([_raw.chunk("w", (6, 5), np.ones(5), rows=[1]),
                                          _raw.chunk("w", (6, 5), w)], lrctl.InvalidArgument, "chunks[w].rows"),
        "a dense tensor missing elements next to rows": ([_raw.chunk("w", (6, 5), np.ones(5), rows=[1]),
                                                          _raw.chunk("b", (5,), b[:3])],
                                                         lrctl.InvalidArgument, "chunks[b]"),
        "chunk over 4 MiB": ([_raw.chunk("w", (6, 5), b"\0" * ((4 << 20) + 4))], lrctl.ResourceExhausted, ""),
    }


@pytest.mark.parametrize("case", list(_bad_inputs()))
def test_bad_gradients_are_refused_and_change_nothing(client: lrctl.Client, case: str) -> None:
    chunks, error_type, field = _bad_inputs()[case]
    job = new_job(client)
    before = job.pull()
    with pytest.raises(error_type) as error:
        _raw.step(client, job.job_id, before.step, chunks)
    if field:
        assert any(f.startswith(field) for f, _ in error.value.field_violations), error.value.field_violations
    assert_unchanged(job, before)
    assert job.step(before.step, grads()).server_step == before.step + 1, "the refused step was not consumed"


def test_a_stream_must_start_with_its_header(client: lrctl.Client) -> None:
    job = new_job(client)
    with pytest.raises(lrctl.InvalidArgument) as error:
        _raw.step(client, job.job_id, 0, [_raw.chunk("b", (5,), np.ones(5))], header=False)
    assert error.value.field_violations[0][0] == "header"


def test_nonfinite_gradient_rejected_under_reject(client: lrctl.Client) -> None:
    job = new_job(client, on_nonfinite_gradient="reject")
    before = job.pull()
    bad = grads()
    bad["w"][2, 3] = np.nan
    with pytest.raises(lrctl.InvalidArgument):
        job.step(before.step, bad)
    assert_unchanged(job, before)


def test_nonfinite_gradient_skipped_and_counted_under_skip(client: lrctl.Client) -> None:
    job = new_job(client)
    before = job.pull()
    bad = grads()
    bad["b"][0] = np.inf
    with pytest.warns(lrctl.NonFiniteGradientWarning, match=f"step {before.step} was skipped"):
        result = job.step(before.step, bad)
    assert result.skipped_nonfinite and result.server_step == before.step + 1
    for name in SHAPES:
        np.testing.assert_array_equal(result.params[name], before.params[name])
    with warnings.catch_warnings():
        warnings.simplefilter("error", lrctl.NonFiniteGradientWarning)
        assert not job.step(before.step + 1, grads()).skipped_nonfinite


def test_data_plane_preconditions(client: lrctl.Client) -> None:
    plain = client.create_job("control-plane-only", {"lr": 0.1})
    with pytest.raises(lrctl.FailedPrecondition, match="no optimizer"):
        plain.init_params(params())
    fresh = client.create_job("no-params-yet", {"lr": 0.1}, optimizer={"sgd": {}})
    with pytest.raises(lrctl.FailedPrecondition, match="upload"):
        fresh.step(0, grads())
    with pytest.raises(lrctl.NotFound):
        client.job("no-such-job").step(0, grads())
    stepped = new_job(client, steps=1)
    with pytest.raises(lrctl.FailedPrecondition) as error:
        stepped.init_params(params())
    assert error.value.server_step == 1


def test_invalid_optimizer_specs_name_every_field(client: lrctl.Client) -> None:
    with pytest.raises(lrctl.InvalidArgument) as error:
        client.create_job("bad-optimizer", {"lr": 0.1}, optimizer={
            "adam": {"betas": [0.9, 1.5], "eps": -1}, "clipnorm": 1.0, "clipvalue": 1.0,
            "on_nonfinite_gradient": "ignore"})
    fields = {f for f, _ in error.value.field_violations}
    assert fields == {"spec.optimizer.adam.betas[1]", "spec.optimizer.adam.eps", "spec.optimizer.clipvalue",
                      "spec.optimizer.on_nonfinite_gradient"}
    with pytest.raises(lrctl.InvalidArgument, match="algorithm"):
        client.create_job("no-algorithm", {"lr": 0.1}, optimizer={"decay": 0.1})
    with pytest.raises(lrctl.NotFound):
        client.get_job("bad-optimizer")


def test_concurrent_senders_of_one_step_apply_it_once(client: lrctl.Client, server) -> None:
    job = new_job(client, steps=0)
    results: list[bool] = []

    def send() -> None:
        with lrctl.Client(server.address) as own:
            handle = own.job(job.job_id)
            results.append(handle.step(0, grads()).duplicate)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False, True, True, True]
    assert job.pull().step == 1
