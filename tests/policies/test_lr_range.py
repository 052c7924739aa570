"""No step's LR leaves [0, inf) (issue 13 item 8): a policy whose LR could reach inf is refused
when it is made, a plateau increase that would get there is not made, and an override or a
policy update that would is refused. Before: `exponential` with gamma 10 was accepted and
served LR = inf from step ~309, and an override LR of 0 or -0.0 was accepted."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lrctl.server.errors import InvalidArgument
from lrctl.server.policies import (Chained, Constant, Cosine, CosineRestarts, Cyclic, Exponential, InverseSqrt,
                                   InverseTime, Linear, MultiStep, OneCycle, Override, Piecewise, Plateau, Policy,
                                   PolicyState, Polynomial, Sequential, StepDecay, Warmup, Wsd, check_lrs_finite,
                                   initial_state, lr_at, observe)
from lrctl.server.policies.compose import lr_ceiling

LAST = 2**63 - 1
GROWTH = st.sampled_from([0.1, 0.5, 1.0, 1.0001, 2.0, 10.0]) | st.floats(1e-3, 1e3)
LEAVES = st.one_of(
    st.builds(Constant),
    st.builds(Constant, factor=st.none() | st.floats(0, 1), total_iters=st.none() | st.integers(1, LAST)),
    st.builds(Exponential, gamma=GROWTH),
    st.builds(Exponential, k=st.floats(-1.0, 1.0)),
    st.builds(StepDecay, step_size=st.integers(1, 2**62) | st.integers(1, 100), gamma=GROWTH),
    st.builds(MultiStep, milestones=st.lists(st.integers(0, LAST), max_size=400).map(tuple), gamma=GROWTH),
    st.builds(Linear, start_factor=st.floats(0.01, 1.0), end_factor=st.floats(0.0, 1.0),
              total_iters=st.integers(1, 10**6)),
    st.builds(Cosine, t_max=st.integers(1, 10**6), eta_min=st.floats(0, 10)),
    st.builds(CosineRestarts, t_0=st.integers(1, 10**6), t_mult=st.sampled_from([1.0, 2.0, 1.5]),
              eta_min=st.floats(0, 1), peak_decay=GROWTH),
    st.builds(OneCycle, total_steps=st.integers(1, 10**6), max_lr=st.none() | st.floats(1e-4, 1e3),
              div_factor=st.floats(0.01, 100), final_div_factor=st.floats(0.01, 1e4)),
    st.builds(Polynomial, total_iters=st.integers(1, 10**6), power=st.floats(0, 5)),
    st.builds(Polynomial, total_iters=st.integers(1, LAST), power=st.floats(0, 5), end_lr=st.floats(0, 1e3),
              cycle=st.booleans()),
    st.builds(Cosine, t_max=st.integers(1, LAST), eta_min=st.floats(0, 10), hold_after_t_max=st.booleans()),
    st.builds(Piecewise, boundaries=st.just((10, 1000)), factors=st.lists(st.floats(0, 1e3), min_size=3, max_size=3)
              .map(tuple)),
    st.builds(Wsd, stable_steps=st.integers(0, LAST // 2), decay_steps=st.integers(1, LAST // 2),
              decay_type=st.sampled_from(["cosine", "linear", "1-sqrt"]), min_lr_ratio=st.floats(0, 1)),
    st.builds(Cyclic, max_lr=st.floats(1e-6, 1e3), base_lr=st.none() | st.floats(0, 1e3),
              step_size_up=st.integers(1, 2**40), step_size_down=st.none() | st.integers(0, 2**40),
              mode=st.sampled_from(["triangular", "triangular2", "exp_range"]), gamma=st.floats(1e-3, 1.0)),
    st.builds(InverseSqrt, timescale=st.none() | st.integers(1, 2**32 - 1)),
    st.builds(InverseTime, decay_steps=st.integers(1, LAST), decay_rate=st.floats(0, 1e6), staircase=st.booleans()),
)


def _sequential(children: list) -> st.SearchStrategy:
    milestones = st.lists(st.integers(1, LAST), min_size=len(children) - 1, max_size=len(children) - 1, unique=True)
    return st.builds(Sequential, schedules=st.just(tuple(children)), milestones=milestones.map(sorted).map(tuple))


def _trees(children: st.SearchStrategy) -> st.SearchStrategy:
    """Sequential and chained schedules of up to 4 `children`."""
    kids = st.lists(children, min_size=1, max_size=4)
    return kids.flatmap(_sequential) | st.builds(Chained, schedules=kids.map(tuple))


SCHEDULES = LEAVES | _trees(LEAVES) | _trees(LEAVES | _trees(LEAVES))
"""Every leaf schedule, and trees of them two deep."""
PLATEAUS = st.none() | st.builds(Plateau, metric=st.just("loss"), patience=st.integers(0, 1),
                                 factor=st.sampled_from([0.5, 1e-3]), increase_factor=st.sampled_from([0.0, 1e6]),
                                 increase_patience=st.just(0), increase_max_lr=st.sampled_from([1.0, 1e300]),
                                 min_lr=st.sampled_from([0.0, 1e-6]))
OVERRIDES = st.none() | st.builds(Override, lr=st.floats(1e-300, 1e300), scale=st.none(),
                                  until_step=st.integers(0, LAST)) | st.builds(
    Override, lr=st.none(), scale=st.floats(1e-300, 1e300), until_step=st.integers(0, LAST))
STEPS = st.integers(0, LAST) | st.integers(0, 10**4)


def made(policy_args: dict) -> Policy | None:
    """The policy, or None where it is refused (the refusal is what the test then checks)."""
    try:
        return Policy(**policy_args)
    except InvalidArgument:
        return None


@settings(max_examples=300, deadline=None)
@given(schedule=SCHEDULES, lr=st.floats(1e-6, 10), warmup=st.none() | st.builds(Warmup, steps=st.integers(1, 100)),
       plateau=PLATEAUS, max_lr=st.none() | st.floats(1e-3, 1e3), min_lr=st.none() | st.floats(0, 1e-3),
       reports=st.lists(st.tuples(STEPS, st.floats(-1e6, 1e6)), max_size=12), override=OVERRIDES,
       probes=st.lists(STEPS, min_size=1, max_size=20))
def test_every_step_of_every_accepted_policy_has_a_finite_lr_at_or_above_zero(
        schedule, lr, warmup, plateau, max_lr, min_lr, reports, override, probes) -> None:
    assume(min_lr is None or max_lr is None or min_lr <= max_lr)
    policy = made(dict(lr=lr, schedule=schedule, warmup=warmup, plateau=plateau, max_lr=max_lr, min_lr=min_lr))
    if policy is None:
        assert max_lr is None and not math.isfinite(schedule.peak(lr))
        return
    state = initial_state(policy)
    for step, loss in sorted(reports):
        if step >= state.last_report_step:
            state, _ = observe(policy, state, step, {"loss": loss})
    overridden = PolicyState(state.plateau, state.early_stopping, override, state.last_report_step)
    try:
        check_lrs_finite(policy, overridden)
        state = overridden
    except InvalidArgument as refused:
        assert [v.field for v in refused.violations] == ["override.scale"]
    steps = np.array(sorted({0, LAST, *probes, *(s for s, _ in reports)}), dtype=np.int64)
    lrs = lr_at(policy, state, steps)
    assert np.all(np.isfinite(lrs)) and np.all(lrs >= 0), (steps, lrs)
    assert np.all(lrs <= lr_ceiling(policy, state.plateau.highest_scale, state.override) * (1 + 1e-9))


@pytest.mark.parametrize("schedule", [
    Exponential(gamma=10), Exponential(gamma=1 + 1e-12), Exponential(k=-1e-9), StepDecay(step_size=10, gamma=1.01),
    CosineRestarts(t_0=1000, peak_decay=1.1),
    Sequential(schedules=(Constant(), Exponential(gamma=1.01)), milestones=(100,)),
    Chained(schedules=(Cosine(t_max=50), Sequential(schedules=(CosineRestarts(t_0=10, peak_decay=1.5),)))),
    Chained(schedules=(MultiStep(milestones=(1,), gamma=1e200), MultiStep(milestones=(2,), gamma=1e200))),
])
def test_a_schedule_that_grows_without_bound_is_refused_unless_max_lr_caps_it(schedule) -> None:
    with pytest.raises(InvalidArgument) as refused:
        Policy(lr=0.1, schedule=schedule)
    assert [v.field for v in refused.value.violations] == ["schedule"]
    capped = Policy(lr=0.1, schedule=schedule, max_lr=1.0)
    lrs = lr_at(capped, initial_state(capped), np.array([0, 400, 10**9, LAST], dtype=np.int64))
    assert lrs[0] == pytest.approx(0.1) and np.all(np.isfinite(lrs)) and np.all(lrs <= 1.0)


def test_growth_that_stays_finite_is_accepted() -> None:
    """gamma 10 on three milestones, or once every 2^62 steps, peaks at a finite LR."""
    assert Policy(lr=0.1, schedule=MultiStep(milestones=(1, 2, 3), gamma=10)).peak_lr == pytest.approx(100)
    assert Policy(lr=0.1, schedule=StepDecay(step_size=2**62, gamma=10)).peak_lr == pytest.approx(1.0)


def test_an_increase_that_would_reach_inf_is_not_made() -> None:
    """At a cosine trough (schedule LR 1e-300) the first increase raises the LR to 1 (scale
    1e300, so the next peak is 1e300); a second one would need a scale of 1e600."""
    policy = Policy(lr=1.0, schedule=Cosine(t_max=10**6, eta_min=1e-300),
                    plateau=Plateau("loss", increase_factor=1e300, increase_patience=0, increase_max_lr=1e300))
    state, events = observe(policy, initial_state(policy), 10**6, {"loss": 1.0})
    assert [e.kind for e in events] == ["increased"] and state.plateau.scale == pytest.approx(1e300)
    later, events = observe(policy, state, 10**6 + 1, {"loss": 0.5})
    assert events == () and later.plateau.scales == state.plateau.scales
    assert lr_at(policy, later, np.array([2 * 10**6]))[0] == pytest.approx(1e300)


def test_an_override_scale_or_a_policy_that_would_reach_inf_is_refused() -> None:
    policy = Policy(lr=1e300, schedule=Constant())
    with pytest.raises(InvalidArgument) as refused:
        check_lrs_finite(policy, PolicyState(override=Override(lr=None, scale=1e10)))
    assert [v.field for v in refused.value.violations] == ["override.scale"]
    check_lrs_finite(policy, PolicyState(override=Override(lr=1e300, scale=None)))


def test_a_linear_schedule_ending_at_zero_is_exactly_zero_after_its_iterations() -> None:
    """hypothesis found start + (end - start) rounding to -1.1e-16 (start_factor 0.7586650922632241)."""
    schedule = Linear(start_factor=0.7586650922632241, end_factor=0.0, total_iters=489709)
    t = np.array([0, 489708, 489709, 2**63 - 1])
    lrs = schedule.lr(1.0, t)
    assert lrs[0] == pytest.approx(0.7586650922632241) and 0 < lrs[1] and lrs[2] == lrs[3] == 0.0
