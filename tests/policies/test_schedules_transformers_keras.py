"""The schedules whose reference is transformers, Keras 3 or optax, against the reference run
here, over random configurations.

Keras runs on its torch backend: the one tests/integrations/test_keras_callback.py sets, so
whichever module imports Keras first, the backend is the same (jax and numpy work offline
too). Keras and optax compute in float32 by default; each is run twice, in float64 (Keras's
floatx, jax's x64 mode), where the formula must agree to rtol 1e-9, and in its float32
default, held to what float32 allows (rtol 2e-6 plus 1e-7 of the LR: a few float32 ulps, and
the absolute part near an LR of 0, where a cosine's float32 rounding is relative to lr).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from lrctl.server.policies import Cosine, InverseSqrt, InverseTime, Policy, PolicyState, Polynomial, Warmup, Wsd, lr_at

from ._torch_ref import scheduler_lrs

os.environ["KERAS_BACKEND"] = "torch"
MISSING = "a reference library is not installed (the [test] extra pins transformers, keras, jax and optax)"
transformers = pytest.importorskip("transformers", reason=MISSING)
keras = pytest.importorskip("keras", reason=MISSING)
jax = pytest.importorskip("jax", reason=MISSING)
optax = pytest.importorskip("optax", reason=MISSING)

LR = 0.1
N = 500
SEEDS = range(16)
FLOAT32 = {"rtol": 2e-6}
FLOAT64 = {"rtol": 1e-9, "atol": 1e-15}


def _rng(seed: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, salt])


def _ours(policy: Policy, n: int = N) -> np.ndarray:
    return lr_at(policy, PolicyState(), np.arange(n))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("decay_type", ["cosine", "linear", "1-sqrt"])
def test_random_wsd_matches_get_wsd_schedule(seed: int, decay_type: str) -> None:
    """transformers' warmup rises linearly from min_lr_ratio: with min_lr_ratio > 0 that is
    lrctl's linear warmup with start_factor = min_lr_ratio, and every step is compared; from
    0 (min_lr_ratio 0), which no lrctl warmup starts at, the steps from the warmup's end on."""
    rng = _rng(seed, 1)
    warmup = [0, int(rng.integers(1, 60))][seed % 2]
    stable, decay = int(rng.integers(0, 200)), int(rng.integers(1, 250))
    ratio = [0.0, float(rng.uniform(0.001, 1.0))][seed % 4 // 2]
    policy = Policy(lr=LR, warmup=Warmup(steps=warmup, start_factor=ratio) if warmup and ratio else (
        Warmup(steps=warmup) if warmup else None),
        schedule=Wsd(stable_steps=stable, decay_steps=decay, decay_type=decay_type, min_lr_ratio=ratio))
    reference = scheduler_lrs(lambda o: transformers.get_wsd_schedule(
        o, num_warmup_steps=warmup, num_decay_steps=decay, num_stable_steps=stable, decay_type=decay_type,
        min_lr_ratio=ratio), LR, N)
    start = 0 if ratio else warmup
    np.testing.assert_allclose(_ours(policy)[start:], reference[start:], rtol=1e-12, atol=1e-17)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_inverse_sqrt_matches_get_inverse_sqrt_schedule(seed: int) -> None:
    """From the warmup's end on (transformers warms up from 0). Without a timescale both take
    the warmup's steps, or 10,000 without a warmup."""
    rng = _rng(seed, 2)
    warmup = [0, int(rng.integers(1, 100))][seed % 2]
    timescale = None if seed % 4 < 2 else int(rng.integers(1, 5000))
    policy = Policy(lr=LR, warmup=Warmup(steps=warmup) if warmup else None, schedule=InverseSqrt(timescale=timescale))
    assert policy.schedule.timescale == (timescale or warmup or 10_000)
    reference = scheduler_lrs(lambda o: transformers.get_inverse_sqrt_schedule(
        o, num_warmup_steps=warmup, timescale=timescale), LR, N)
    np.testing.assert_allclose(_ours(policy)[warmup:], reference[warmup:], rtol=1e-12)


@pytest.fixture(params=["float64", "float32"])
def keras_floatx(request: pytest.FixtureRequest):
    """Keras computing in `request.param`, with the tolerance that precision allows."""
    before = keras.config.floatx()
    keras.config.set_floatx(request.param)
    yield FLOAT64 if request.param == "float64" else FLOAT32
    keras.config.set_floatx(before)


def _keras(schedule, n: int = N) -> np.ndarray:
    """The schedule at steps 0 .. n-1, one step per call: on the torch backend a float64
    schedule with staircase floors an array of steps to float32 (a scalar stays float64)."""
    return np.array([float(schedule(step)) for step in range(n)])


def _float32_atol(tolerance: dict, lr: float) -> dict:
    return tolerance if "atol" in tolerance else {**tolerance, "atol": 1e-7 * lr}


@pytest.mark.parametrize("seed", SEEDS)
def test_random_inverse_time_matches_keras_inverse_time_decay(seed: int, keras_floatx: dict) -> None:
    rng = _rng(seed, 3)
    decay_steps, decay_rate, staircase = int(rng.integers(1, 200)), float(rng.uniform(0, 5)), bool(seed % 2)
    ours = _ours(Policy(lr=LR, schedule=InverseTime(decay_steps=decay_steps, decay_rate=decay_rate,
                                                    staircase=staircase)))
    reference = _keras(keras.optimizers.schedules.InverseTimeDecay(LR, decay_steps, decay_rate, staircase=staircase))
    np.testing.assert_allclose(ours, reference, **_float32_atol(keras_floatx, LR))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_held_cosine_matches_keras_cosine_decay(seed: int, keras_floatx: dict) -> None:
    """Keras's alpha is eta_min / lr; past decay_steps both hold eta_min."""
    rng = _rng(seed, 4)
    decay_steps, alpha = int(rng.integers(1, 300)), [0.0, float(rng.uniform(0, 1))][seed % 2]
    ours = _ours(Policy(lr=LR, schedule=Cosine(t_max=decay_steps, eta_min=alpha * LR, hold_after_t_max=True)))
    reference = _keras(keras.optimizers.schedules.CosineDecay(LR, decay_steps, alpha=alpha))
    np.testing.assert_allclose(ours, reference, **_float32_atol(keras_floatx, LR))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_polynomial_matches_keras_polynomial_decay(seed: int, keras_floatx: dict) -> None:
    """end_lr and cycle as Keras's end_learning_rate and cycle; end_lr may exceed lr."""
    rng = _rng(seed, 5)
    total_iters, power = int(rng.integers(1, 150)), float(rng.uniform(0, 4))
    end_lr, cycle = float(rng.uniform(0, 0.15)), seed % 2 == 0
    ours = _ours(Policy(lr=LR, schedule=Polynomial(total_iters=total_iters, power=power, end_lr=end_lr, cycle=cycle)))
    reference = _keras(keras.optimizers.schedules.PolynomialDecay(LR, total_iters, end_learning_rate=end_lr,
                                                                  power=power, cycle=cycle))
    np.testing.assert_allclose(ours, reference, **_float32_atol(keras_floatx, LR))


@pytest.mark.parametrize("x64", [True, False], ids=["float64", "float32"])
@pytest.mark.parametrize("seed", SEEDS)
def test_random_held_cosine_matches_optax_cosine_decay_schedule(seed: int, x64: bool) -> None:
    rng = _rng(seed, 6)
    decay_steps, alpha = int(rng.integers(1, 300)), [0.0, float(rng.uniform(0, 1))][seed % 2]
    ours = _ours(Policy(lr=LR, schedule=Cosine(t_max=decay_steps, eta_min=alpha * LR, hold_after_t_max=True)))
    with jax.enable_x64(x64):
        reference = np.asarray(optax.cosine_decay_schedule(LR, decay_steps, alpha=alpha)(np.arange(N)),
                               dtype=np.float64)
    np.testing.assert_allclose(ours, reference, **(FLOAT64 if x64 else _float32_atol(FLOAT32, LR)))
