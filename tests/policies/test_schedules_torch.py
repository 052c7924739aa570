"""Closed-form schedules against torch's schedulers, stepped the way a training loop steps them."""
from __future__ import annotations

import numpy as np
import pytest
import torch.optim.lr_scheduler as tl

from lrctl.server.policies import (
    Constant, Cosine, CosineRestarts, Exponential, Linear, MultiStep, OneCycle, Polynomial, Policy, PolicyState,
    StepDecay, Warmup, lr_at,
)

from ._torch_ref import scheduler_lrs

LR = 0.1
N = 400

CASES = [
    ("step", StepDecay(step_size=7, gamma=0.5), lambda o: tl.StepLR(o, step_size=7, gamma=0.5)),
    ("step_default_gamma", StepDecay(step_size=30), lambda o: tl.StepLR(o, step_size=30)),
    ("multistep_duplicates", MultiStep(milestones=(50, 10, 50, 200), gamma=0.3),
     lambda o: tl.MultiStepLR(o, milestones=[50, 10, 50, 200], gamma=0.3)),
    ("exponential", Exponential(gamma=0.99), lambda o: tl.ExponentialLR(o, gamma=0.99)),
    ("polynomial", Polynomial(total_iters=150, power=2.0), lambda o: tl.PolynomialLR(o, total_iters=150, power=2.0)),
    ("polynomial_default", Polynomial(), lambda o: tl.PolynomialLR(o)),
    ("linear", Linear(start_factor=0.25, end_factor=0.8, total_iters=120),
     lambda o: tl.LinearLR(o, start_factor=0.25, end_factor=0.8, total_iters=120)),
    ("linear_default", Linear(), lambda o: tl.LinearLR(o)),
    ("cosine", Cosine(t_max=90, eta_min=1e-3), lambda o: tl.CosineAnnealingLR(o, T_max=90, eta_min=1e-3)),
    ("cosine_restarts_mult1", CosineRestarts(t_0=17), lambda o: tl.CosineAnnealingWarmRestarts(o, T_0=17)),
    ("cosine_restarts_mult2", CosineRestarts(t_0=10, t_mult=2, eta_min=1e-4),
     lambda o: tl.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=1e-4)),
    ("cosine_restarts_mult3", CosineRestarts(t_0=3, t_mult=3.0),
     lambda o: tl.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=3)),
]


@pytest.mark.parametrize(("name", "schedule", "make"), CASES, ids=[c[0] for c in CASES])
def test_schedule_matches_torch(name: str, schedule, make) -> None:
    ours = lr_at(Policy(lr=LR, schedule=schedule), PolicyState(), np.arange(N))
    np.testing.assert_allclose(ours, scheduler_lrs(make, LR, N), rtol=1e-6, atol=1e-15)


@pytest.mark.parametrize(("name", "schedule", "make"), CASES[:1] + CASES[2:4] + CASES[8:11],
                         ids=[c[0] for c in CASES[:1] + CASES[2:4] + CASES[8:11]])
def test_linear_warmup_then_schedule_matches_sequential_lr(name: str, schedule, make) -> None:
    """Warmup is LinearLR(start_factor, 1.0, W) in front of the schedule in SequentialLR([W])."""
    warmup = 25

    def sequential(o):
        return tl.SequentialLR(o, [tl.LinearLR(o, start_factor=0.05, total_iters=warmup), make(o)], milestones=[warmup])

    ours = lr_at(Policy(lr=LR, warmup=Warmup(steps=warmup, start_factor=0.05), schedule=schedule),
                 PolicyState(), np.arange(N))
    np.testing.assert_allclose(ours, scheduler_lrs(sequential, LR, N), rtol=1e-6, atol=1e-15)


def test_default_warmup_matches_linear_lr_defaults() -> None:
    def sequential(o):
        return tl.SequentialLR(o, [tl.LinearLR(o, total_iters=10), tl.ConstantLR(o, factor=1.0)], milestones=[10])

    ours = lr_at(Policy(lr=LR, warmup=Warmup(steps=10)), PolicyState(), np.arange(30))
    np.testing.assert_allclose(ours, scheduler_lrs(sequential, LR, 30), rtol=1e-6)


@pytest.mark.parametrize("kwargs", [
    {},
    {"anneal_strategy": "linear"},
    {"three_phase": True},
    {"three_phase": True, "anneal_strategy": "linear", "pct_start": 0.25},
    {"pct_start": 0.45, "div_factor": 10.0, "final_div_factor": 100.0},
])
def test_one_cycle_matches_torch(kwargs: dict) -> None:
    """Equal on steps 0 .. total_steps-1, then held at the final value (torch raises)."""
    total = 240
    ours = lr_at(Policy(lr=0.5, schedule=OneCycle(total_steps=total, max_lr=0.8, **kwargs)), PolicyState(),
                 np.arange(total + 50))
    torch_lrs = scheduler_lrs(lambda o: tl.OneCycleLR(o, max_lr=0.8, total_steps=total, cycle_momentum=False,
                                                      **kwargs), 0.5, total)
    np.testing.assert_allclose(ours[:total], torch_lrs, rtol=1e-6)
    np.testing.assert_array_equal(ours[total - 1:], ours[total - 1])


def test_one_cycle_holds_final_lr_where_torch_extrapolates_to_a_negative_lr() -> None:
    """At step total_steps torch extrapolates the last phase past its end: with linear
    annealing that is below zero. We hold max_lr / (div_factor * final_div_factor)."""
    total = 100
    torch_lrs = scheduler_lrs(lambda o: tl.OneCycleLR(o, max_lr=0.1, total_steps=total, anneal_strategy="linear",
                                                      cycle_momentum=False), 0.1, total + 1)
    assert torch_lrs[total] < 0
    ours = lr_at(Policy(lr=0.1, schedule=OneCycle(total_steps=total, anneal_strategy="linear")), PolicyState(),
                 np.array([total - 1, total, 10 * total]))
    np.testing.assert_allclose(ours, 0.1 / 25 / 1e4, rtol=1e-9)


def test_one_cycle_zero_length_phase_is_complete_where_torch_divides_by_zero() -> None:
    """pct_start * total_steps == 1 makes torch's first phase span 0 steps: ZeroDivisionError
    at construction. Step 0 is then the end of the rise, so the LR there is max_lr."""
    with pytest.raises(ZeroDivisionError):
        scheduler_lrs(lambda o: tl.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=0.1, cycle_momentum=False),
                      1.0, 2)
    ours = lr_at(Policy(lr=1.0, schedule=OneCycle(total_steps=10, pct_start=0.1)), PolicyState(), np.arange(10))
    assert ours[0] == 1.0
    assert np.all(np.diff(ours) < 0)


def test_steps_per_epoch_moves_schedule_once_per_epoch() -> None:
    """A torch scheduler stepped once per epoch of 4 steps, after a 3-step warmup."""
    policy = Policy(lr=LR, warmup=Warmup(steps=3), schedule=StepDecay(step_size=2, gamma=0.5), steps_per_epoch=4)
    per_epoch = scheduler_lrs(lambda o: tl.StepLR(o, step_size=2, gamma=0.5), LR, 10)
    ours = lr_at(policy, PolicyState(), np.arange(3, 3 + 40))
    np.testing.assert_allclose(ours, np.repeat(per_epoch, 4), rtol=1e-12)


def test_constant_is_lr() -> None:
    np.testing.assert_array_equal(lr_at(Policy(lr=0.3), PolicyState(), np.arange(5)), 0.3)
    assert Policy(lr=0.3).schedule == Constant()
