"""Invariants over random policies and report streams."""
from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lrctl.server.policies.scale_history import ScaleHistory
from lrctl.server.policies import (
    Chained, Constant, Cosine, CosineRestarts, Cyclic, EarlyStoppingState, Exponential, InverseSqrt, InverseTime, Linear,
    MultiStep, OneCycle, Override, Piecewise, Plateau, PlateauState, Policy, PolicyState, Polynomial, Sequential,
    StepDecay, Warmup, Wsd, initial_state, lr_at, lr_at_step, observe, state_from_dict, state_to_dict,
)

SCHEDULE_EXAMPLES = [
    Constant(), StepDecay(step_size=13, gamma=0.7), MultiStep(milestones=(5, 40, 40)), Exponential(k=0.01),
    Piecewise(boundaries=(10, 30), factors=(1.0, 0.5, 0.2), interpolation="linear"), Polynomial(total_iters=50),
    Linear(start_factor=0.25, total_iters=20), Cosine(t_max=37, eta_min=1e-4), OneCycle(total_steps=80),
    CosineRestarts(t_0=9, t_mult=1.7, peak_decay=0.8), CosineRestarts(t_0=5, t_mult=2),
    Constant(factor=0.5, total_iters=7), Polynomial(total_iters=40, power=2.0, end_lr=1e-3, cycle=True),
    Cosine(t_max=20, eta_min=1e-3, hold_after_t_max=True),
    Wsd(stable_steps=30, decay_steps=40, decay_type="1-sqrt", min_lr_ratio=0.1),
    Cyclic(max_lr=0.5, step_size_up=7, step_size_down=3, mode="triangular2"),
    Cyclic(max_lr=0.05, base_lr=0.2, step_size_up=11, mode="exp_range", gamma=0.99),
    InverseSqrt(timescale=25), InverseTime(decay_steps=10, decay_rate=0.5, staircase=True),
    Sequential(schedules=(Linear(start_factor=0.1, total_iters=10), CosineRestarts(t_0=7),
                          Chained(schedules=(StepDecay(step_size=5, gamma=0.5), Cyclic(max_lr=0.3, step_size_up=4)))),
               milestones=(10, 60)),
    Chained(schedules=(Exponential(gamma=0.99), Sequential(schedules=(Constant(), Cosine(t_max=30)), milestones=(20,)))),
]
"""At least one of every registered schedule (test_schedule_registry holds it to that)."""
SCHEDULES = st.sampled_from(SCHEDULE_EXAMPLES)
POLICIES = st.builds(
    Policy,
    lr=st.sampled_from([0.1, 1.0, 3e-4]),
    warmup=st.none() | st.builds(Warmup, steps=st.integers(1, 20), start_factor=st.floats(0.01, 1.0),
                                 mode=st.sampled_from(["linear", "exponential"])),
    schedule=SCHEDULES,
    plateau=st.builds(Plateau, metric=st.just("loss"), patience=st.integers(0, 2), factor=st.sampled_from([0.5, 0.1]),
                      cooldown=st.integers(0, 2), increase_factor=st.sampled_from([0.0, 1.5]),
                      increase_max_lr=st.just(1.0)),
    min_lr=st.none() | st.just(1e-5),
    max_lr=st.none() | st.just(0.5),
    steps_per_epoch=st.sampled_from([0, 0, 3]),
)
REPORTS = st.lists(st.tuples(st.integers(0, 15), st.floats(0.0, 10.0)), min_size=1, max_size=25)


def _report_steps(gaps: list[tuple[int, float]]) -> list[tuple[int, float]]:
    step, out = 0, []
    for gap, value in gaps:
        step += gap
        out.append((step, value))
    return out


@settings(max_examples=40, deadline=None)
@given(policy=POLICIES, reports=REPORTS)
def test_lrs_of_steps_before_a_report_never_change(policy: Policy, reports) -> None:
    state = initial_state(policy)
    for step, value in _report_steps(reports):
        before = lr_at(policy, state, np.arange(step))
        state, _ = observe(policy, state, step, {"loss": value})
        np.testing.assert_array_equal(lr_at(policy, state, np.arange(step)), before)
        assert state.last_report_step == step


@settings(max_examples=40, deadline=None)
@given(policy=POLICIES, reports=REPORTS, override=st.none() | st.builds(
    Override, lr=st.none(), scale=st.floats(0, 2, exclude_min=True), until_step=st.integers(0, 100)))
def test_vectorized_equals_per_step(policy: Policy, reports, override) -> None:
    state = initial_state(policy)
    for step, value in _report_steps(reports):
        state, _ = observe(policy, state, step, {"loss": value})
    state = PolicyState(state.plateau, state.early_stopping, override, state.last_report_step)
    steps = np.arange(300)
    np.testing.assert_array_equal(lr_at(policy, state, steps), [lr_at_step(policy, state, int(t)) for t in steps])


@settings(max_examples=50, deadline=None)
@given(steps=st.integers(1, 5000), start_factor=st.floats(1e-4, 1.0), lr=st.floats(1e-6, 10.0),
       mode=st.sampled_from(["linear", "exponential"]))
def test_warmup_is_monotone_and_hands_over_at_lr(steps: int, start_factor: float, lr: float, mode: str) -> None:
    policy = Policy(lr=lr, warmup=Warmup(steps=steps, start_factor=start_factor, mode=mode))
    lrs = lr_at(policy, initial_state(policy), np.arange(steps + 2))
    assert np.all(np.diff(lrs) >= 0)
    np.testing.assert_allclose(lrs[0], lr * start_factor, rtol=1e-12)
    assert lrs[steps] == lr


FLOATS = st.floats(allow_nan=False, allow_infinity=False)
POSITIVE = st.floats(0, 10, exclude_min=True)
SCALES = st.lists(st.tuples(st.integers(0, 2**62), st.floats(0, 1e6)), max_size=5, unique_by=lambda entry: entry[0]).map(
    lambda entries: ScaleHistory.of(sorted(entries)))
STATES = st.builds(
    PolicyState,
    plateau=st.builds(PlateauState, best=st.none() | FLOATS, num_bad_reports=st.integers(0, 10**6),
                      num_good_reports=st.integers(0, 10**6), cooldown_counter=st.integers(0, 100),
                      reductions=st.integers(0, 100), increases=st.integers(0, 100),
                      scales=SCALES),
    early_stopping=st.builds(EarlyStoppingState, best=st.none() | FLOATS, wait=st.integers(0, 10**6),
                             should_stop=st.booleans(), stopped_step=st.none() | st.integers(0, 2**62)),
    override=st.none() | st.builds(Override, lr=POSITIVE, scale=st.none(), until_step=st.integers(0, 2**62),
                                   reason=st.text()) | st.builds(Override, lr=st.none(), scale=POSITIVE),
    last_report_step=st.integers(-1, 2**62),
)


@settings(max_examples=100, deadline=None)
@given(state=STATES)
def test_state_dict_round_trip_through_strict_json(state: PolicyState) -> None:
    text = json.dumps(state_to_dict(state), allow_nan=False)
    assert state_from_dict(json.loads(text)) == state
