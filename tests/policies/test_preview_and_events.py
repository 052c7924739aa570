"""observe's events and preview's dry run, against lr_at and restart_steps."""
from __future__ import annotations

import numpy as np

from lrctl.server.policies import (
    CosineRestarts, EarlyStopping, Override, Plateau, Policy, PolicyState, Warmup, initial_state, lr_at, lr_at_step,
    observe, preview, restarts_between,
)
from lrctl.server.service.policy_codec import policy_from_json

from .test_policy_codec import EXAMPLE


def test_observe_reports_restarts_since_the_last_report() -> None:
    policy = Policy(lr=0.1, warmup=Warmup(steps=5), schedule=CosineRestarts(t_0=10))
    state = initial_state(policy)
    state, events = observe(policy, state, 30, {})
    assert [(e.kind, e.step, e.count, e.first_step) for e in events] == [("restart", 25, 2, 15)]
    assert all(e.lr == 0.1 for e in events)
    state, events = observe(policy, state, 35, {})
    assert [(e.kind, e.step, e.count, e.first_step) for e in events] == [("restart", 35, 1, None)]
    _, events = observe(policy, state, 35, {})
    assert events == ()


def test_preview_of_the_documented_policy() -> None:
    _, policy = policy_from_json(EXAMPLE)
    metrics = {s: {"val_loss": 1.0 if s < 3000 else 1.0 + s / 1e5} for s in range(200, 8000, 200)}
    result = preview(policy, 8000, metrics)
    assert result.lrs.shape == (8000,)
    assert result.lrs[0] == 0.1 * 0.01 and result.lrs[500] == 0.1
    kinds = [(e.kind, e.step) for e in result.events]
    assert [s for k, s in kinds if k == "restart"] == [1500, 3500, 7500]  # a report every 200 steps: one each
    assert restarts_between(policy, -1, 7999).count == 3
    reductions = [s for k, s in kinds if k == "reduced"]
    assert reductions and all(s % 200 == 0 for s in reductions)
    assert result.stop_step == ([s for k, s in kinds if k == "early_stop"] or [-1])[0]
    assert result.stop_step > 0
    state = initial_state(policy)
    for step in sorted(metrics):
        state, _ = observe(policy, state, step, metrics[step])
    np.testing.assert_array_equal(result.lrs, lr_at(policy, state, np.arange(8000)))
    for event in result.events:
        assert event.lr == result.lrs[event.step]


def test_preview_without_reports_never_stops() -> None:
    policy = Policy(lr=0.1, plateau=Plateau("loss"), early_stopping=EarlyStopping("loss"))
    result = preview(policy, 100, {})
    assert result.stop_step == -1 and result.events == () and np.all(result.lrs == 0.1)


def test_override_pins_or_scales_after_clamp_until_a_step() -> None:
    policy = Policy(lr=0.1, max_lr=0.05)
    pinned = PolicyState(override=Override(lr=0.3, scale=None, until_step=10))
    assert lr_at_step(policy, pinned, 9) == 0.3 and lr_at_step(policy, pinned, 10) == 0.05
    scaled = PolicyState(override=Override(lr=None, scale=0.5))
    assert lr_at_step(policy, scaled, 10**9) == 0.025
