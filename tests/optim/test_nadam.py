"""NAdam's mu_product: torch keeps it per parameter, lrctl derives it from the step in O(1)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lrctl.server.optim.algorithms.nadam import momentum_coefficient, mu_product


@pytest.mark.parametrize("beta1, momentum_decay", [(0.9, 4e-3), (0.99, 1e-2), (0.5, 0.0), (0.999, 1e-5), (0.0, 4e-3)])
def test_mu_product_is_the_float64_product_of_every_mu_so_far(beta1: float, momentum_decay: float) -> None:
    running = 1.0
    for step in range(1, 3001):
        running *= momentum_coefficient(beta1, momentum_decay, step)
        ours = mu_product(beta1, momentum_decay, step)
        assert ours == pytest.approx(running, rel=1e-12, abs=1e-300), step
    assert mu_product(beta1, momentum_decay, 0) == 1.0


def test_mu_product_at_a_million_steps_costs_what_step_one_does() -> None:
    """The O(1) form at step 10^6, against a float64 loop (run once here: the reason there is no loop)."""
    # mu_i -> beta1 fast (momentum_decay 1) and beta1^(10^6) = e^-0.1: a product far from zero.
    beta1, momentum_decay, steps = 1 - 1e-7, 1.0, 1_000_000
    log_running = math.fsum(math.log(momentum_coefficient(beta1, momentum_decay, i)) for i in range(1, steps + 1))
    ours = mu_product(beta1, momentum_decay, steps)
    assert ours > 1e-12
    assert ours == pytest.approx(math.exp(log_running), rel=1e-10)


@pytest.mark.parametrize("kwargs", [{}, {"betas": (0.99, 0.999), "momentum_decay": 1e-3}])
def test_mu_product_equals_torch_state_to_its_float32_rounding(kwargs: dict) -> None:
    """torch multiplies a float32 scalar by each mu (one rounding a step): equal to ours within
    step float32 roundings while torch's stays a normal float32."""
    param = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.NAdam([param], **kwargs)
    beta1, momentum_decay = kwargs.get("betas", (0.9,))[0], kwargs.get("momentum_decay", 4e-3)
    for step in range(1, 201):
        param.grad = torch.ones(3)
        opt.step()
        theirs = float(opt.state[param]["mu_product"])
        if theirs < np.finfo(np.float32).tiny:
            break
        assert mu_product(beta1, momentum_decay, step) == pytest.approx(theirs, rel=step * 2**-23), step
    assert step > 60
