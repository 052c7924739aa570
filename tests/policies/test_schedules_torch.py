"""Closed-form schedules against torch's schedulers, stepped the way a training loop steps them."""
from __future__ import annotations

import numpy as np
import pytest
import torch.optim.lr_scheduler as tl

from lrctl.server.policies import (
    Chained, Constant, Cosine, CosineRestarts, Cyclic, Exponential, Linear, MultiStep, OneCycle, Polynomial, Policy,
    PolicyState, Sequential, StepDecay, Warmup, lr_at,
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


# Random configurations of the issue-15 schedules, each run against its torch peer.

SEEDS = range(12)


def _rng(seed: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, salt])


def _matches_torch(schedule, make, n: int = N, lr: float = LR) -> None:
    ours = lr_at(Policy(lr=lr, schedule=schedule), PolicyState(), np.arange(n))
    np.testing.assert_allclose(ours, scheduler_lrs(make, lr, n), rtol=1e-6, atol=1e-15)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_constant_matches_constant_lr(seed: int) -> None:
    rng = _rng(seed, 1)
    factor = None if seed % 4 == 0 else float(rng.uniform(0.01, 1.0))
    total_iters = None if seed % 4 == 1 else int(rng.integers(1, 60))
    torch_kwargs = {k: v for k, v in {"factor": factor, "total_iters": total_iters}.items() if v is not None}
    _matches_torch(Constant(factor=factor, total_iters=total_iters), lambda o: tl.ConstantLR(o, **torch_kwargs))


def test_constant_factor_zero_is_lr_from_total_iters_where_torch_divides_by_zero() -> None:
    """torch ConstantLR(factor=0) steps back up by multiplying with 1 / factor at total_iters:
    ZeroDivisionError. Its closed form, and lrctl, give lr from total_iters on."""
    with pytest.raises(ZeroDivisionError):
        scheduler_lrs(lambda o: tl.ConstantLR(o, factor=0.0, total_iters=3), LR, 5)
    ours = lr_at(Policy(lr=LR, schedule=Constant(factor=0.0, total_iters=3)), PolicyState(), np.arange(5))
    np.testing.assert_array_equal(ours, [0, 0, 0, LR, LR])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_random_cyclic_matches_cyclic_lr(seed: int, mode: str) -> None:
    """The LR of torch CyclicLR(cycle_momentum=False); base_lr defaults to the policy's lr."""
    rng = _rng(seed, 2)
    base_lr = None if seed % 3 == 0 else float(rng.uniform(0.0, 0.2))
    max_lr = float(rng.uniform(0.01, 1.0))
    up = int(rng.integers(1, 40))
    down = [None, 0, int(rng.integers(1, 40))][seed % 3]
    gamma = float(rng.uniform(0.95, 1.0))
    torch_base = LR if base_lr is None else base_lr
    _matches_torch(Cyclic(max_lr=max_lr, base_lr=base_lr, step_size_up=up, step_size_down=down, mode=mode, gamma=gamma),
                   lambda o: tl.CyclicLR(o, base_lr=torch_base, max_lr=max_lr, step_size_up=up, step_size_down=down,
                                         mode=mode, gamma=gamma, cycle_momentum=False))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_polynomial_without_end_lr_or_cycle_is_polynomial_lr(seed: int) -> None:
    rng = _rng(seed, 3)
    total_iters, power = int(rng.integers(1, N)), float(rng.uniform(0.0, 5.0))
    _matches_torch(Polynomial(total_iters=total_iters, power=power),
                   lambda o: tl.PolynomialLR(o, total_iters=total_iters, power=power))


def _random_leaf(rng: np.random.Generator):
    """A random leaf schedule and a factory of its torch scheduler (one that SequentialLR can
    restart at a milestone: every one with a closed form, CyclicLR and warm restarts)."""
    kind = int(rng.integers(0, 9))
    if kind == 0:
        step_size, gamma = int(rng.integers(1, 30)), float(rng.uniform(0.3, 1.0))
        return StepDecay(step_size=step_size, gamma=gamma), lambda o: tl.StepLR(o, step_size=step_size, gamma=gamma)
    if kind == 1:
        milestones, gamma = tuple(sorted(int(m) for m in rng.integers(1, 120, size=3))), float(rng.uniform(0.3, 1.0))
        return MultiStep(milestones=milestones, gamma=gamma), lambda o: tl.MultiStepLR(o, list(milestones), gamma=gamma)
    if kind == 2:
        gamma = float(rng.uniform(0.95, 1.0))
        return Exponential(gamma=gamma), lambda o: tl.ExponentialLR(o, gamma=gamma)
    if kind == 3:
        factor, total_iters = float(rng.uniform(0.05, 1.0)), int(rng.integers(1, 40))
        return (Constant(factor=factor, total_iters=total_iters),
                lambda o: tl.ConstantLR(o, factor=factor, total_iters=total_iters))
    if kind == 4:
        start, end, total_iters = float(rng.uniform(0.05, 1.0)), float(rng.uniform(0.0, 1.0)), int(rng.integers(1, 60))
        return (Linear(start_factor=start, end_factor=end, total_iters=total_iters),
                lambda o: tl.LinearLR(o, start_factor=start, end_factor=end, total_iters=total_iters))
    if kind == 5:
        total_iters, power = int(rng.integers(1, 100)), float(rng.uniform(0.5, 3.0))
        return (Polynomial(total_iters=total_iters, power=power),
                lambda o: tl.PolynomialLR(o, total_iters=total_iters, power=power))
    if kind == 6:
        t_max, eta_min = int(rng.integers(1, 80)), float(rng.uniform(0.0, 0.01))
        return Cosine(t_max=t_max, eta_min=eta_min), lambda o: tl.CosineAnnealingLR(o, T_max=t_max, eta_min=eta_min)
    if kind == 7:
        t_0, t_mult, eta_min = int(rng.integers(1, 30)), int(rng.integers(1, 3)), float(rng.uniform(0.0, 0.01))
        return (CosineRestarts(t_0=t_0, t_mult=float(t_mult), eta_min=eta_min),
                lambda o: tl.CosineAnnealingWarmRestarts(o, T_0=t_0, T_mult=t_mult, eta_min=eta_min))
    max_lr, up, mode = float(rng.uniform(0.01, 0.5)), int(rng.integers(1, 20)), str(rng.choice(["triangular",
                                                                                              "triangular2"]))
    return (Cyclic(max_lr=max_lr, step_size_up=up, mode=mode),
            lambda o: tl.CyclicLR(o, base_lr=LR, max_lr=max_lr, step_size_up=up, mode=mode, cycle_momentum=False))


def _random_milestones(rng: np.random.Generator, count: int, horizon: int) -> tuple[int, ...]:
    return tuple(int(m) for m in np.sort(rng.choice(np.arange(1, horizon), size=count, replace=False)))


@pytest.mark.parametrize("seed", range(24))
def test_random_sequential_matches_sequential_lr(seed: int) -> None:
    rng = _rng(seed, 4)
    leaves = [_random_leaf(rng) for _ in range(int(rng.integers(1, 5)))]
    milestones = _random_milestones(rng, len(leaves) - 1, N)
    _matches_torch(Sequential(schedules=tuple(s for s, _ in leaves), milestones=milestones),
                   lambda o: tl.SequentialLR(o, [make(o) for _, make in leaves], milestones=list(milestones)))


@pytest.mark.parametrize("seed", range(24))
def test_random_sequential_in_sequential_is_the_flat_sequential_lr(seed: int) -> None:
    """A sequential nested in a sequential starts its own time at its milestone, so its
    children's milestones are that milestone plus theirs: torch's flat SequentialLR of the
    leaves is the reference (torch's own nesting is quirky, see the next test). Children
    that would start after the outer schedule's next milestone never run."""
    rng = _rng(seed, 5)
    outer_milestones = _random_milestones(rng, int(rng.integers(1, 4)), N)
    starts, ends = (0, *outer_milestones), (*outer_milestones, N)
    children, flat, flat_milestones = [], [], []
    for i, (start, end) in enumerate(zip(starts, ends)):
        if i == 0 or rng.random() < 0.5:
            leaves = [_random_leaf(rng) for _ in range(int(rng.integers(1, 4)))]
            inner = _random_milestones(rng, len(leaves) - 1, 150)
            children.append(Sequential(schedules=tuple(s for s, _ in leaves), milestones=inner))
            kept = [(start + m, make) for m, (_, make) in zip((0, *inner), leaves) if start + m < end]
        else:
            leaf, make = _random_leaf(rng)
            children.append(leaf)
            kept = [(start, make)]
        flat.extend(make for _, make in kept)
        flat_milestones.extend(m for m, _ in kept)
    _matches_torch(Sequential(schedules=tuple(children), milestones=outer_milestones),
                   lambda o: tl.SequentialLR(o, [make(o) for make in flat], milestones=flat_milestones[1:]))


def test_torch_nested_sequential_lr_runs_one_step_ahead_first_and_raises_later() -> None:
    """torch's SequentialLR inside a SequentialLR: first, it is stepped once more by the outer
    one's initial step, so its milestone comes one step early; anywhere else, the outer one
    restarts it with _update_lr(0), which SequentialLR does not implement. lrctl runs the
    inner schedule in its own time from its milestone, as any other child."""
    def inner(o):
        return tl.SequentialLR(o, [tl.ConstantLR(o, factor=0.5, total_iters=100), tl.ExponentialLR(o, gamma=0.9)],
                               milestones=[5])

    ours_inner = Sequential(schedules=(Constant(factor=0.5, total_iters=100), Exponential(gamma=0.9)), milestones=(5,))
    torch_lrs = scheduler_lrs(lambda o: tl.SequentialLR(o, [inner(o), tl.StepLR(o, 3, 0.5)], milestones=[12]), LR, 20)
    ours = lr_at(Policy(lr=LR, schedule=Sequential(schedules=(ours_inner, StepDecay(step_size=3, gamma=0.5)),
                                                   milestones=(12,))), PolicyState(), np.arange(21))
    inner_alone = lr_at(Policy(lr=LR, schedule=ours_inner), PolicyState(), np.arange(13))
    np.testing.assert_allclose(ours[:12], inner_alone[:12], rtol=1e-12)
    np.testing.assert_allclose(torch_lrs[:12], inner_alone[1:13], rtol=1e-6)
    np.testing.assert_allclose(torch_lrs[12:], ours[12:20], rtol=1e-6)
    with pytest.raises(NotImplementedError):
        scheduler_lrs(lambda o: tl.SequentialLR(o, [tl.StepLR(o, 3, 0.5), inner(o)], milestones=[4]), LR, 10)


def test_torch_sequential_lr_after_a_cyclic_lr_with_its_own_base_lr_starts_from_it() -> None:
    """CyclicLR sets the optimizer's LR to its base_lr when it is made, and SequentialLR takes
    the LR it finds as every child's base: after the milestone torch's ExponentialLR decays
    from CyclicLR's base_lr. Each lrctl child starts from the policy's lr, as it does after
    any other child."""
    cyclic = Cyclic(max_lr=0.2, base_lr=0.01, step_size_up=3)
    torch_lrs = scheduler_lrs(lambda o: tl.SequentialLR(
        o, [tl.CyclicLR(o, base_lr=0.01, max_lr=0.2, step_size_up=3, cycle_momentum=False),
            tl.ExponentialLR(o, gamma=0.9)], milestones=[5]), LR, 10)
    ours = lr_at(Policy(lr=LR, schedule=Sequential(schedules=(cyclic, Exponential(gamma=0.9)), milestones=(5,))),
                 PolicyState(), np.arange(10))
    np.testing.assert_allclose(ours[:5], torch_lrs[:5], rtol=1e-12)
    np.testing.assert_allclose(torch_lrs[5:], 0.01 * 0.9 ** np.arange(5), rtol=1e-9)
    np.testing.assert_allclose(ours[5:], LR * 0.9 ** np.arange(5), rtol=1e-9)


def _random_multiplicative(rng: np.random.Generator):
    """A leaf whose torch scheduler multiplies the LR it finds (so ChainedScheduler is a product)."""
    while True:
        schedule, make = _random_leaf(rng)
        if isinstance(schedule, (StepDecay, MultiStep, Exponential, Constant, Linear, Polynomial)):
            return schedule, make


@pytest.mark.parametrize("seed", range(24))
def test_random_chained_of_multiplicative_schedulers_matches_chained_scheduler(seed: int) -> None:
    rng = _rng(seed, 6)
    leaves = [_random_multiplicative(rng) for _ in range(int(rng.integers(1, 5)))]
    _matches_torch(Chained(schedules=tuple(s for s, _ in leaves)),
                   lambda o: tl.ChainedScheduler([make(o) for _, make in leaves]))


def test_torch_chains_cosine_with_eta_min_by_its_history_lrctl_by_the_product() -> None:
    """CosineAnnealingLR's step moves the LR it finds relative to eta_min, so in a chain with
    ExponentialLR torch's LR is no product of factors (it depends on both histories). lrctl's
    is lr * (cosine's LR / lr) * gamma ** t; with eta_min 0 the two agree."""
    def chain(eta_min):
        return lambda o: tl.ChainedScheduler([tl.CosineAnnealingLR(o, T_max=50, eta_min=eta_min),
                                              tl.ExponentialLR(o, gamma=0.97)])

    def ours(eta_min):
        schedule = Chained(schedules=(Cosine(t_max=50, eta_min=eta_min), Exponential(gamma=0.97)))
        return lr_at(Policy(lr=LR, schedule=schedule), PolicyState(), np.arange(50))

    product = (0.01 + (LR - 0.01) * (1 + np.cos(np.pi * np.arange(50) / 50)) / 2) * 0.97 ** np.arange(50)
    np.testing.assert_allclose(ours(0.01), product, rtol=1e-12)
    assert not np.allclose(scheduler_lrs(chain(0.01), LR, 50), product, rtol=1e-3)
    np.testing.assert_allclose(ours(0.0), scheduler_lrs(chain(0.0), LR, 50), rtol=1e-6)
