"""Every optimizer and option against torch.optim: float32, 200 steps, an LR that moves every step."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lrctl.server import optim
from tests.optim._torch_peer import (
    CASES, FUSED, REFERENCE, TORCH_CASES, initial_params, layout_for, max_rel_error, run_lrctl, run_torch, schedule,
)

STEPS = 200
# Measured worst case over these cases is 6e-7 (about 5 float32 ulps at the array's RMS;
# torch's vectorized lerp/add fuse multiply-adds, our kernels round every op). 4e-6 leaves
# headroom for other seeds and is far below what a wrong equation or scalar produces (>1e-3).
RTOL = 4e-6

RTOL_OF = {"Muon": 2e-3}
"""Muon's iterate is bfloat16 (8 significant bits) in torch and here; the order of the float32
sums in each product differs from torch's, which moves a rounding-edge element by one bfloat16
step (4e-3 relative) in one iteration, and 200 steps accumulate such moves. Measured: see the
printed error. A wrong coefficient, orientation or LR adjustment is off by more than 1e-1."""

LR_SCALE = {"Adadelta": 100.0}
"""Adadelta's step is the LR times a ratio of running RMS that starts near sqrt(eps) (torch's
default lr is 1.0): under the others' LRs its parameters would move ~1e-3 in 200 steps, too
little for RTOL to tell a wrong update from a right one."""

JOB_SCALARS = {"mu_product"}
"""Per-parameter 0-d state torch keeps and lrctl derives from the job's step instead (NAdam's
mu_product: tests/optim/test_nadam.py holds it to torch's)."""


@pytest.mark.parametrize("backend", [REFERENCE, FUSED], ids=["reference", "fused"])
@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_matches_torch_after_200_steps(case: str, backend) -> None:
    algorithm, torch_class, kwargs = TORCH_CASES[case]
    layout = layout_for(algorithm)
    params, (lrs, grads) = initial_params(7, layout), schedule(STEPS, seed=7, layout=layout)
    lrs = lrs * LR_SCALE.get(torch_class.__name__, 1.0)
    extra = {} if torch_class is torch.optim.Muon else {"foreach": False}
    theirs, their_slots = run_torch(torch_class, kwargs, params, lrs, grads, layout=layout, **extra)
    their_slots = {name: slot for name, slot in their_slots.items() if name not in JOB_SCALARS}
    ours, state = run_lrctl(optim.OptimizerConfig(algorithm), backend, params, lrs, grads, layout)
    assert state.step == STEPS
    assert set(their_slots) == set(state.slots)
    errors = {"params": max_rel_error(ours, theirs)}
    errors |= {name: max_rel_error(state.slots[name], their_slots[name]) for name in their_slots}
    print(f"{case} [{backend.kernels.name}] max rel error vs torch: {errors}")
    assert max(errors.values()) < RTOL_OF.get(torch_class.__name__, RTOL), errors


@pytest.mark.parametrize("case", list(CASES))
def test_fused_equals_reference_bit_for_bit(case: str) -> None:
    algorithm, _, _ = CASES[case]
    layout = layout_for(algorithm)
    params, (lrs, grads) = initial_params(3, layout), schedule(STEPS, seed=3, layout=layout)
    config = optim.OptimizerConfig(algorithm, optim.GradientOptions(clipnorm=20.0, decay=1e-3))
    ref_params, ref_state = run_lrctl(config, REFERENCE, params, lrs, grads, layout)
    fused_params, fused_state = run_lrctl(config, FUSED, params, lrs, grads, layout)
    np.testing.assert_array_equal(fused_params, ref_params)
    for name in ref_state.slots:
        np.testing.assert_array_equal(fused_state.slots[name], ref_state.slots[name])
