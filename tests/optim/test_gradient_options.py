"""Keras's gradient options and the non-finite policy, against torch fed the transformed gradient.

Keras itself is not installed; its definitions are short enough to state here:
clip_by_norm(g, c) = g * c / max(||g||, c) per tensor, clip_by_global_norm uses the norm of
all tensors together, clipvalue clamps each element, and legacy `decay` divides the LR by
(1 + decay * iterations).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lrctl.server import optim
from lrctl.server.errors import InvalidArgument
from tests.optim._torch_peer import FUSED, LAYOUT, initial_params, max_rel_error, run_torch, schedule

STEPS = 50
RTOL = 4e-6


def _keras_clipnorm(limit: float):
    def clip(g: np.ndarray) -> np.ndarray:
        out = g.copy()
        for span in LAYOUT.spans:
            part = out[span.offset:span.stop]
            part *= np.float32(limit / max(float(np.linalg.norm(part.astype(np.float64))), limit))
        return out
    return clip


def _keras_global_clipnorm(limit: float):
    return lambda g: g * np.float32(limit / max(float(np.linalg.norm(g.astype(np.float64))), limit))


def _run(gradient: optim.GradientOptions, lrs, grads, params):
    config = optim.OptimizerConfig(optim.Adam(amsgrad=True), gradient)
    params = params.copy()
    state = optim.init(config, LAYOUT.size)
    for lr, g in zip(lrs, grads):
        state = optim.update(config, params, g, state, float(lr), backend=FUSED, layout=LAYOUT)
    return params, state


@pytest.mark.parametrize("gradient, clip", [
    (optim.GradientOptions(clipnorm=5.0), _keras_clipnorm(5.0)),
    (optim.GradientOptions(global_clipnorm=20.0), _keras_global_clipnorm(20.0)),
    (optim.GradientOptions(clipvalue=0.5), lambda g: np.clip(g, np.float32(-0.5), np.float32(0.5))),
], ids=["clipnorm", "global_clipnorm", "clipvalue"])
def test_clipping_is_keras_clipping_before_the_torch_step(gradient, clip) -> None:
    params, (lrs, grads) = initial_params(11), schedule(STEPS, seed=11)
    assert all(not np.array_equal(clip(g), g) for g in grads[:3])  # the clip really bites
    theirs, _ = run_torch(torch.optim.Adam, {"amsgrad": True}, params, lrs, grads, clip=clip, foreach=False)
    ours, _ = _run(gradient, lrs, grads, params)
    assert max_rel_error(ours, theirs) < RTOL


def test_time_based_decay_divides_the_lr_by_one_plus_decay_times_iterations() -> None:
    params, (lrs, grads) = initial_params(12), schedule(STEPS, seed=12)
    decayed = [lr / (1 + 0.05 * t) for t, lr in enumerate(lrs)]
    theirs, _ = run_torch(torch.optim.Adam, {"amsgrad": True}, params, decayed, grads, foreach=False)
    ours, _ = _run(optim.GradientOptions(decay=0.05), lrs, grads, params)
    assert max_rel_error(ours, theirs) < RTOL


def _snapshot(params, state):
    return params.copy(), {k: v.copy() for k, v in state.slots.items()}


def _assert_unchanged(before, params, state) -> None:
    np.testing.assert_array_equal(params, before[0])
    for name, slot in state.slots.items():
        np.testing.assert_array_equal(slot, before[1][name])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_skip_drops_the_whole_step_counts_it_and_keeps_the_step_number(bad: float) -> None:
    config = optim.OptimizerConfig(optim.Adam(), optim.GradientOptions(on_nonfinite="skip"))
    params, (lrs, grads) = initial_params(5), schedule(4, seed=5)
    clean_params = params.copy()
    state, clean = optim.init(config, LAYOUT.size), optim.init(config, LAYOUT.size)
    for lr, g in zip(lrs[:2], grads[:2]):
        state = optim.update(config, params, g, state, lr, backend=FUSED, layout=LAYOUT)
        clean = optim.update(config, clean_params, g, clean, lr, backend=FUSED, layout=LAYOUT)
    poisoned = grads[2].copy()
    poisoned[LAYOUT.size // 2] = bad
    before = _snapshot(params, state)
    state = optim.update(config, params, poisoned, state, lrs[2], backend=FUSED, layout=LAYOUT)
    _assert_unchanged(before, params, state)
    assert (state.step, state.skipped_nonfinite) == (2, 1)
    state = optim.update(config, params, grads[3], state, lrs[3], backend=FUSED, layout=LAYOUT)
    clean = optim.update(config, clean_params, grads[3], clean, lrs[3], backend=FUSED, layout=LAYOUT)
    np.testing.assert_array_equal(params, clean_params)


def test_reject_refuses_and_changes_nothing() -> None:
    config = optim.OptimizerConfig(optim.SGD(momentum=0.9), optim.GradientOptions(on_nonfinite="reject"))
    params = initial_params(6)
    state = optim.update(config, params, np.ones(LAYOUT.size, np.float32), optim.init(config, LAYOUT.size),
                         0.1, backend=FUSED)
    before = _snapshot(params, state)
    poisoned = np.ones(LAYOUT.size, np.float32)
    poisoned[-1] = np.nan
    with pytest.raises(InvalidArgument) as error:
        optim.update(config, params, poisoned, state, 0.1, backend=FUSED)
    assert error.value.violations[0].field == "grads"
    _assert_unchanged(before, params, state)


def test_huge_finite_gradients_are_clipped_not_treated_as_nonfinite() -> None:
    config = optim.OptimizerConfig(optim.SGD(), optim.GradientOptions(global_clipnorm=1.0))
    params = np.zeros(LAYOUT.size, np.float32)
    grads = np.full(LAYOUT.size, 3e38, np.float32)  # float32 squares overflow; float64 ones do not
    state = optim.update(config, params, grads, optim.init(config, LAYOUT.size), 1.0, backend=FUSED)
    assert state.step == 1 and np.isfinite(params).all()
    np.testing.assert_allclose(np.linalg.norm(params.astype(np.float64)), 1.0, rtol=1e-5)


@pytest.mark.parametrize("lr", [-1e-3, float("nan"), float("inf")])
def test_a_bad_learning_rate_is_refused(lr: float) -> None:
    config = optim.OptimizerConfig()
    params = np.zeros(4, np.float32)
    with pytest.raises(InvalidArgument, match="learning rate"):
        optim.update(config, params, params.copy(), optim.init(config, 4), lr, backend=FUSED)


def test_mismatched_buffers_are_refused_with_the_field_named() -> None:
    config = optim.OptimizerConfig()
    state = optim.init(config, 8)
    with pytest.raises(InvalidArgument) as error:
        optim.update(config, np.zeros(8, np.float32), np.zeros(8, np.float64), state, 0.1, backend=FUSED)
    assert [v.field for v in error.value.violations] == ["grads"]
    with pytest.raises(InvalidArgument) as error:
        optim.update(config, np.zeros(8, np.float32), np.zeros(7, np.float32), state, 0.1, backend=FUSED,
                     layout=LAYOUT)
    assert [v.field for v in error.value.violations] == ["grads", "layout"]
