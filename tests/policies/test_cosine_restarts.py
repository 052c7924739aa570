"""Warm restarts: torch parity, torch's closed-form bug, non-integer t_mult, peak decay, big t."""
from __future__ import annotations

import time
import warnings

import numpy as np
import torch
import torch.optim.lr_scheduler as tl

from lrctl.server.errors import InvalidArgument
from lrctl.server.policies import CosineRestarts, Policy, PolicyState, Warmup, lr_at, restarts_between
from lrctl.server.policies.schedules.restart_span import RestartSpan

from ._torch_ref import scheduler_lrs


def restart_list(policy: Policy, after: int, up_to: int) -> list[int]:
    """Every restart step in (after, up_to], one at a time, each counted by restarts_between
    over the one step it is at (so the list checks the counts, not the reverse)."""
    found, low = [], after
    while (span := restarts_between(policy, low, up_to)) is not None:
        first = span.first
        assert restarts_between(policy, first - 1, first) == RestartSpan(1, first, first)
        found.append(first)
        low = first
    return found


def _torch_closed_form(t_0: int, t_mult: int, epoch: int) -> float:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = tl.CosineAnnealingWarmRestarts(opt, T_0=t_0, T_mult=t_mult)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched.step(epoch)
    return opt.param_groups[0]["lr"]


def test_restart_point_where_torch_closed_form_returns_eta_min() -> None:
    """Epoch 121 starts cycle 5 for t_0=1, t_mult=3 (1+3+9+27+81 = 121). torch's step(121)
    computes the cycle as int(math.log(243, 3)) = int(4.999999999999999) = 4, so it puts the
    epoch at the *end* of cycle 4 and returns eta_min. Stepping 121 times in torch, and
    lrctl's integer arithmetic, both give the restart's peak."""
    assert _torch_closed_form(1, 3, 121) == 0.0
    stepped = scheduler_lrs(lambda o: tl.CosineAnnealingWarmRestarts(o, T_0=1, T_mult=3), 1.0, 122)
    ours = lr_at(Policy(lr=1.0, schedule=CosineRestarts(t_0=1, t_mult=3)), PolicyState(), np.arange(122))
    assert stepped[121] == 1.0 and ours[121] == 1.0
    np.testing.assert_allclose(ours, stepped, rtol=1e-6, atol=1e-15)


def test_every_restart_starts_at_the_peak_for_many_configs() -> None:
    """Including the points where torch's closed form is one cycle short (t_0 * 121, 29524...)."""
    for t_0 in (1, 2, 3, 5):
        for t_mult in (2, 3, 4):
            policy = Policy(lr=1.0, schedule=CosineRestarts(t_0=t_0, t_mult=t_mult, eta_min=0.01))
            starts = restart_list(policy, -1, 200_000)
            assert starts[0] == t_0
            np.testing.assert_array_equal(lr_at(policy, PolicyState(), np.array(starts)), 1.0)


def test_non_integer_t_mult_cycle_lengths_and_peak_decay() -> None:
    """Cycle i lasts round(t_0 * t_mult**i) steps and peaks at lr * peak_decay**i."""
    cfg = CosineRestarts(t_0=10, t_mult=1.5, eta_min=0.0, peak_decay=0.5)
    policy = Policy(lr=0.2, schedule=cfg)
    lengths = [round(10 * 1.5**i) for i in range(8)]
    starts = np.cumsum([0, *lengths])
    assert restart_list(policy, 0, int(starts[-1])) == [int(s) for s in starts[1:]]
    assert restarts_between(policy, 0, int(starts[-1])) == RestartSpan(8, int(starts[1]), int(starts[-1]))
    lrs = lr_at(policy, PolicyState(), np.arange(starts[-1]))
    for i, (start, length) in enumerate(zip(starts, lengths)):
        t_cur = np.arange(length)
        expected = 0.2 * 0.5**i * (1 + np.cos(np.pi * t_cur / length)) / 2
        np.testing.assert_allclose(lrs[start:start + length], expected, rtol=1e-12)


def test_restart_steps_count_from_warmup_and_epochs() -> None:
    policy = Policy(lr=0.1, warmup=Warmup(steps=5), schedule=CosineRestarts(t_0=2, t_mult=2), steps_per_epoch=10)
    assert restart_list(policy, -1, 200) == [25, 65, 145]
    assert restarts_between(policy, -1, 200) == RestartSpan(3, 25, 145)
    assert restarts_between(policy, 25, 145) == RestartSpan(2, 65, 145)
    assert restarts_between(policy, 145, 146) is None


def test_big_steps_are_fast_and_exact() -> None:
    """Far-away steps cost no more than near ones: modulo for t_mult 1, searchsorted otherwise."""
    huge = np.array([10**15, 10**15 + 1, 2**62], dtype=np.int64)
    for cfg in (CosineRestarts(t_0=1000), CosineRestarts(t_0=1000, t_mult=2),
                CosineRestarts(t_0=7, t_mult=1.01, peak_decay=0.999999)):
        policy = Policy(lr=0.1, schedule=cfg)
        start = time.perf_counter()
        for _ in range(100):
            lrs = lr_at(policy, PolicyState(), huge)
        assert time.perf_counter() - start < 1.0
        assert np.all(np.isfinite(lrs)) and np.all(lrs >= 0)
    assert lr_at(Policy(lr=0.1, schedule=CosineRestarts(t_0=1000, t_mult=2)), PolicyState(),
                 np.array([1000 * (2**40 - 1)]))[0] == 0.1
