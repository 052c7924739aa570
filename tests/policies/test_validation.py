"""Bad values fail at construction, every bad field named as in the proto."""
from __future__ import annotations

import pytest

from lrctl.server.errors import InvalidArgument
from lrctl.server.policies import (
    Cosine, CosineRestarts, EarlyStopping, Exponential, Linear, MultiStep, OneCycle, Override, Piecewise, Plateau,
    Policy, Polynomial, StepDecay, Warmup,
)


def _fields(make) -> list[str]:
    with pytest.raises(InvalidArgument) as info:
        make()
    return [v.field for v in info.value.violations]


@pytest.mark.parametrize(("make", "fields"), [
    (lambda: Plateau("loss", factor=1.0), ["factor"]),
    (lambda: Plateau("loss", patience=-1), ["patience"]),
    (lambda: Plateau("", mode="down", threshold_mode="pct", cooldown=-1, eps=-1.0),
     ["metric", "mode", "threshold_mode", "cooldown", "eps"]),
    (lambda: Plateau("loss", increase_factor=0.5), ["increase_factor"]),
    (lambda: Plateau("loss", increase_factor=2.0), ["increase_max_lr"]),
    (lambda: CosineRestarts(t_0=0, t_mult=0.5), ["t_0", "t_mult"]),
    (lambda: CosineRestarts(t_0=10, peak_decay=0.0), ["peak_decay"]),
    (lambda: Warmup(steps=0, start_factor=0.0, mode="cosine"), ["steps", "start_factor", "mode"]),
    (lambda: StepDecay(step_size=0, gamma=-0.1), ["step_size", "gamma"]),
    (lambda: MultiStep(milestones=(3, -1)), ["milestones"]),
    (lambda: Piecewise(boundaries=(5, 5), factors=(1.0,), interpolation="cubic"),
     ["boundaries", "factors", "interpolation"]),
    (lambda: Exponential(), ["gamma"]),
    (lambda: Exponential(gamma=0.9, k=0.1), ["gamma"]),
    (lambda: Polynomial(total_iters=0, power=-1.0), ["total_iters", "power"]),
    (lambda: Linear(start_factor=0.0, end_factor=1.5, total_iters=0), ["start_factor", "end_factor", "total_iters"]),
    (lambda: Cosine(t_max=0, eta_min=float("nan")), ["t_max", "eta_min"]),
    (lambda: OneCycle(total_steps=0, pct_start=1.5, anneal_strategy="cosine", div_factor=0.0),
     ["total_steps", "pct_start", "anneal_strategy", "div_factor"]),
    (lambda: EarlyStopping("loss", mode="best", patience=-2, min_delta=-0.1, start_step=-1),
     ["mode", "patience", "min_delta", "start_step"]),
    (lambda: Policy(lr=0.0, min_lr=0.2, max_lr=0.1, steps_per_epoch=-1, on_nonfinite_metric="ignore"),
     ["lr", "max_lr", "steps_per_epoch", "on_nonfinite_metric"]),
    (lambda: Policy(lr=float("inf")), ["lr"]),
    (lambda: Override(lr=0.1, scale=0.5), ["lr"]),
    (lambda: Override(lr=None, scale=-1.0, until_step=-1), ["scale", "until_step"]),
])
def test_bad_values_name_every_field(make, fields: list[str]) -> None:
    assert _fields(make) == fields


def test_message_reads_like_torch() -> None:
    with pytest.raises(InvalidArgument, match=r"factor: Invalid factor value: 1\.5 \(must be in \[0, 1\)\)"):
        Plateau("loss", factor=1.5)


def test_torch_defaults() -> None:
    plateau = Plateau("loss")
    assert (plateau.mode, plateau.factor, plateau.patience, plateau.threshold, plateau.threshold_mode,
            plateau.cooldown, plateau.min_lr, plateau.eps) == ("min", 0.1, 10, 1e-4, "rel", 0, 0.0, 1e-8)
    assert Warmup(steps=5).start_factor == 1 / 3
    assert MultiStep(milestones=(30, 10)).milestones == (10, 30)
