"""Export and restore: a job resumed from a snapshot continues exactly as if never stopped."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrctl.server import optim
from lrctl.server.errors import InvalidArgument
from tests.optim._torch_peer import CASES, FUSED, LAYOUT, initial_params, layout_for, schedule


def _through_npz(state: dict[str, object]) -> dict[str, object]:
    """What a snapshot file gives back: arrays and 0-d integers, read without pickle."""
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        return {name: loaded[name] for name in loaded.files}


@pytest.mark.parametrize("case", list(CASES))
def test_resuming_from_a_snapshot_is_bit_identical_to_not_stopping(case: str) -> None:
    config = optim.OptimizerConfig(CASES[case][0], optim.GradientOptions(decay=0.01))
    layout = layout_for(config.algorithm)
    params, (lrs, grads) = initial_params(9, layout), schedule(6, seed=9, layout=layout)
    straight, resumed = params.copy(), params.copy()
    state = optim.init(config, layout)
    for lr, g in zip(lrs, grads):
        state = optim.update(config, straight, g, state, lr, backend=FUSED, layout=layout)
    state = optim.init(config, layout)
    for lr, g in zip(lrs[:3], grads[:3]):
        state = optim.update(config, resumed, g, state, lr, backend=FUSED, layout=layout)
    state = optim.OptimizerState.from_state_dict(config, _through_npz(state.state_dict()), layout)
    for lr, g in zip(lrs[3:], grads[3:]):
        state = optim.update(config, resumed, g, state, lr, backend=FUSED, layout=layout)
    np.testing.assert_array_equal(resumed, straight)
    assert state.step == 6


@settings(max_examples=30, deadline=None)
@given(shapes=st.dictionaries(st.text(min_size=1, max_size=8), st.lists(st.integers(0, 5), max_size=3), max_size=6))
def test_layout_round_trips_through_json_and_tiles_the_buffer(shapes: dict[str, list[int]]) -> None:
    layout = optim.Layout.of(shapes)
    assert optim.Layout.from_state_dict(json.loads(json.dumps(layout.state_dict()))) == layout
    buffer = np.arange(layout.size, dtype=np.float32)
    assert sum(layout.view(buffer, name).size for name in shapes) == layout.size
    assert list(layout.bounds()) == [0] + [span.stop for span in layout.spans]


def test_views_write_through_to_the_flat_buffer() -> None:
    buffer = np.zeros(LAYOUT.size, np.float32)
    LAYOUT.view(buffer, "bias")[...] = 1
    assert buffer.sum() == 13 and buffer[LAYOUT.span("bias").offset] == 1


def test_restoring_into_a_different_optimizer_names_every_problem() -> None:
    adam = optim.OptimizerConfig(optim.Adam(amsgrad=True))
    exported = optim.init(adam, 10).state_dict()
    with pytest.raises(InvalidArgument) as error:
        optim.OptimizerState.from_state_dict(optim.OptimizerConfig(optim.SGD(momentum=0.9)), exported, 10)
    assert {v.field for v in error.value.violations} == {
        "state.momentum_buffer", "state.exp_avg", "state.exp_avg_sq", "state.max_exp_avg_sq"}
    with pytest.raises(InvalidArgument) as error:
        optim.OptimizerState.from_state_dict(adam, {**exported, "step": -1, "exp_avg": np.zeros(9)}, 10)
    assert {v.field for v in error.value.violations} == {"state.step", "state.exp_avg"}


def test_restored_state_is_a_copy() -> None:
    config = optim.OptimizerConfig(optim.Adagrad(initial_accumulator_value=0.5))
    exported = optim.init(config, 4).state_dict()
    restored = optim.OptimizerState.from_state_dict(config, exported, 4)
    restored.slots["sum"][0] = 9
    assert exported["sum"][0] == 0.5


def test_slots_are_torch_state_names() -> None:
    assert optim.slot_names(optim.SGD()) == ()
    assert optim.slot_names(optim.RMSprop(centered=True, momentum=0.9)) == ("square_avg", "grad_avg", "momentum_buffer")
    assert optim.slot_names(optim.AdamW(amsgrad=True)) == ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")


@settings(max_examples=40, deadline=None)
@given(shapes=st.dictionaries(st.text(min_size=1, max_size=4), st.lists(st.integers(0, 6), max_size=4), max_size=5),
       member=st.sampled_from(["adafactor", "muon", "lamb"]))
def test_whole_tensor_algorithms_step_any_layout_they_accept_and_refuse_the_rest_by_name(
        shapes: dict[str, list[int]], member: str) -> None:
    """Any shapes, scalars and empty tensors included: Muon refuses every tensor that is not a
    matrix, naming each; otherwise every slot fits its own layout (never larger than the
    parameters), a step leaves everything finite and the state restores from its export."""
    config, layout = optim.OptimizerConfig(optim.ALGORITHMS[member]()), optim.Layout.of(shapes)
    not_matrices = sorted(name for name, shape in shapes.items() if len(shape) != 2)
    if member == "muon" and not_matrices:
        with pytest.raises(InvalidArgument) as error:
            optim.init(config, layout)
        assert sorted(v.field for v in error.value.violations) == sorted(f"shapes[{n}]" for n in not_matrices)
        return
    state = optim.init(config, layout)
    for name, slot_layout in optim.slot_layouts(config.algorithm, layout).items():
        assert state.slots[name].size == slot_layout.size <= layout.size
    rng = np.random.default_rng(0)
    params = rng.standard_normal(layout.size).astype(np.float32)
    for _ in range(3):
        state = optim.update(config, params, rng.standard_normal(layout.size).astype(np.float32), state, 0.01,
                             backend=FUSED, layout=layout)
    assert state.step == 3 and np.isfinite(params).all()
    assert all(np.isfinite(slot).all() for slot in state.slots.values())
    restored = optim.OptimizerState.from_state_dict(config, _through_npz(state.state_dict()), layout)
    for name, slot in state.slots.items():
        np.testing.assert_array_equal(restored.slots[name], slot)
