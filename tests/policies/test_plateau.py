"""ReduceLROnPlateau parity with torch, and what lrctl adds (sign-safe threshold, increases,
composition with schedules)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrctl.server.policies import (
    Cosine, Plateau, Policy, Warmup, base_lr_at, initial_state, lr_at, lr_at_step, observe,
)

from ._torch_ref import plateau_lrs


def _ours(policy: Policy, values: list[float]) -> np.ndarray:
    """LR right after each report; the i-th report is at step i + 1."""
    state, out = initial_state(policy), []
    for i, value in enumerate(values):
        state, _ = observe(policy, state, i + 1, {"loss": value})
        out.append(lr_at_step(policy, state, i + 1))
    return np.asarray(out)


def _random_walk(seed: int, n: int, offset: float) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(offset + np.cumsum(rng.normal(0, 1, n)) * 0.05 + rng.choice([0, 0.0001], n))


TORCH_KWARGS = [
    {},
    {"mode": "max"},
    {"threshold_mode": "abs", "threshold": 0.01},
    {"mode": "max", "threshold_mode": "abs", "threshold": 0.02},
    {"patience": 2, "factor": 0.5, "cooldown": 3},
    {"patience": 1, "factor": 0.3, "min_lr": 0.004},
    {"patience": 0, "factor": 0.9, "eps": 0.002},
    {"patience": 3, "threshold": 0.1, "mode": "max", "cooldown": 1},
]


@pytest.mark.parametrize("kwargs", TORCH_KWARGS)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_torch_on_random_streams(kwargs: dict, seed: int) -> None:
    values = _random_walk(seed, 300, offset=5.0)
    policy = Policy(lr=0.1, plateau=Plateau("loss", **kwargs))
    np.testing.assert_allclose(_ours(policy, values), plateau_lrs(0.1, values, **kwargs), rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.integers(0, 12).map(lambda i: 1.0 + i / 8), min_size=1, max_size=120),
    mode=st.sampled_from(["min", "max"]),
    threshold_mode=st.sampled_from(["rel", "abs"]),
    patience=st.integers(0, 4),
    cooldown=st.integers(0, 3),
    factor=st.sampled_from([0.1, 0.5, 0.9]),
    min_lr=st.sampled_from([0.0, 1e-3]),
)
def test_matches_torch_property(values, mode, threshold_mode, patience, cooldown, factor, min_lr) -> None:
    kwargs = dict(mode=mode, threshold_mode=threshold_mode, patience=patience, cooldown=cooldown,
                  factor=factor, min_lr=min_lr)
    policy = Policy(lr=0.1, plateau=Plateau("loss", **kwargs))
    np.testing.assert_allclose(_ours(policy, values), plateau_lrs(0.1, values, **kwargs), rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.integers(-12, 12).map(lambda i: i / 8), min_size=1, max_size=80),
       mode=st.sampled_from(["min", "max"]), patience=st.integers(0, 3))
def test_sign_safe_off_reproduces_torch_on_any_sign(values, mode, patience) -> None:
    kwargs = dict(mode=mode, patience=patience)
    policy = Policy(lr=0.1, plateau=Plateau("loss", sign_safe_threshold=False, **kwargs))
    np.testing.assert_allclose(_ours(policy, values), plateau_lrs(0.1, values, **kwargs), rtol=1e-6)


def test_negative_metric_relative_threshold() -> None:
    """torch's rel threshold is `best * (1 - threshold)`: for best = -1 the bar is -0.9999,
    *above* best, so -0.99995 (worse than -1) counts as an improvement, best creeps upward
    and the LR is never reduced. With |best| the bar is -1.0001 and the worsening is seen."""
    values = [-1.0] + [-0.99995] * 6
    torch_lrs = plateau_lrs(0.1, values, patience=2)
    assert np.all(torch_lrs == 0.1)
    ours = _ours(Policy(lr=0.1, plateau=Plateau("loss", patience=2)), values)
    np.testing.assert_allclose(ours, [0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001], rtol=1e-12)
    legacy = _ours(Policy(lr=0.1, plateau=Plateau("loss", patience=2, sign_safe_threshold=False)), values)
    np.testing.assert_array_equal(legacy, torch_lrs)


def test_reduction_scales_the_schedule_from_the_report_step_on() -> None:
    """With warmup + cosine (torch refuses plateau here), a reduction at step s multiplies
    the schedule from s on, and torch's 'current LR' is the scheduled LR at s."""
    policy = Policy(lr=0.1, warmup=Warmup(steps=10), schedule=Cosine(t_max=100),
                    plateau=Plateau("loss", patience=0, factor=0.5))
    state = initial_state(policy)
    state, _ = observe(policy, state, 20, {"loss": 1.0})
    state, events = observe(policy, state, 30, {"loss": 2.0})
    assert [e.kind for e in events] == ["reduced"]
    steps = np.arange(60)
    base = base_lr_at(policy, steps)
    lrs = lr_at(policy, state, steps)
    np.testing.assert_array_equal(lrs[:30], base[:30])
    np.testing.assert_allclose(lrs[30:], 0.5 * base[30:], rtol=1e-12)
    assert events[0].lr == lrs[30]


def test_zero_base_lr_does_not_divide() -> None:
    """At the end of a cosine with eta_min 0 the scheduled LR is 0: nothing to reduce, as in torch."""
    policy = Policy(lr=0.1, schedule=Cosine(t_max=10), plateau=Plateau("loss", patience=0))
    state = initial_state(policy)
    state, _ = observe(policy, state, 0, {"loss": 1.0})
    state, events = observe(policy, state, 10, {"loss": 2.0})
    assert events == () and len(state.plateau.scales) == 0 and state.plateau.num_bad_reports == 0


def test_increase_after_sustained_improvement_is_capped_and_respects_cooldown() -> None:
    plateau = Plateau("loss", patience=100, increase_factor=2.0, increase_patience=1, increase_max_lr=0.3,
                      cooldown=1)
    policy = Policy(lr=0.1, plateau=plateau)
    state, kinds = initial_state(policy), []
    for step, value in enumerate([10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0], start=1):
        state, events = observe(policy, state, step, {"loss": value})
        kinds.extend((e.kind, e.step, round(e.lr, 12)) for e in events)
    assert kinds == [("increased", 2, 0.2), ("increased", 5, 0.3)]
    assert state.plateau.increases == 2 and state.plateau.reductions == 0


def test_other_metrics_leave_the_plateau_alone() -> None:
    policy = Policy(lr=0.1, plateau=Plateau("loss", patience=0))
    state, _ = observe(policy, initial_state(policy), 3, {"accuracy": 0.5})
    assert state.plateau == initial_state(policy).plateau and state.last_report_step == 3
