"""Sparse rows: torch.optim.SparseAdam and sparse-gradient Adagrad as peers, plus laziness."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lrctl.server import optim
from lrctl.server.errors import InvalidArgument
from tests.optim._torch_peer import CASES, FUSED, max_rel_error

TABLE = (200, 16)
LAYOUT = optim.Layout.of({"table": TABLE, "other": (5,)})
STEPS = 100
RTOL = 4e-6


def _batches(seed: int):
    """Per step: an LR and a batch of rows with duplicates (as an embedding lookup produces)."""
    rng = np.random.default_rng(seed)
    for _ in range(STEPS):
        rows = rng.integers(0, TABLE[0], size=int(rng.integers(1, 40)))
        yield rng.uniform(1e-4, 2e-2), rows, rng.standard_normal((rows.size, TABLE[1])).astype(np.float32)


def _run_both(config: optim.OptimizerConfig, torch_optimizer, seed: int):
    start = np.random.default_rng(seed).standard_normal(LAYOUT.size).astype(np.float32)
    params, state = start.copy(), optim.init(config, LAYOUT.size)
    table = torch.nn.Parameter(torch.from_numpy(LAYOUT.view(start, "table").copy()))
    peer = torch_optimizer([table])
    with torch.sparse.check_sparse_tensor_invariants(enable=True):
        state = _steps(config, params, state, table, peer, seed)
    assert state.step == STEPS
    np.testing.assert_array_equal(LAYOUT.view(params, "other"), LAYOUT.view(start, "other"))
    return params, state, table.detach().numpy(), peer.state[table]


def _steps(config, params, state, table, peer, seed):
    for lr, rows, values in _batches(seed):
        state = optim.update_rows(config, params, {"table": optim.RowGradient(rows, values)}, state, lr,
                                  backend=FUSED, layout=LAYOUT)
        table.grad = torch.sparse_coo_tensor(torch.from_numpy(rows)[None], torch.from_numpy(values), TABLE)
        peer.param_groups[0]["lr"] = lr
        peer.step()
    return state


def test_adam_rows_match_torch_sparse_adam() -> None:
    # SparseAdam adds eps before bias-correcting the denominator, Adam after; rows touched
    # late have tiny exp_avg_sq, where that alone moves a step by up to 1e-4. A negligible eps
    # makes the comparison about everything else.
    params, state, theirs, their_state = _run_both(
        optim.OptimizerConfig(optim.Adam(eps=1e-20)), lambda p: torch.optim.SparseAdam(p, eps=1e-20), 1)
    assert max_rel_error(LAYOUT.view(params, "table"), theirs) < RTOL
    for name in ("exp_avg", "exp_avg_sq"):
        assert max_rel_error(LAYOUT.view(state.slots[name], "table"), their_state[name].numpy()) < RTOL


def test_adagrad_rows_match_torch_adagrad_on_sparse_gradients() -> None:
    config = optim.OptimizerConfig(optim.Adagrad(lr_decay=0.01, initial_accumulator_value=0.1))
    params, state, theirs, their_state = _run_both(
        config, lambda p: torch.optim.Adagrad(p, lr_decay=0.01, initial_accumulator_value=0.1), 2)
    assert max_rel_error(LAYOUT.view(params, "table"), theirs) < RTOL
    assert max_rel_error(LAYOUT.view(state.slots["sum"], "table"), their_state["sum"].numpy()) < RTOL


ROW_CASES = [case for case, (algorithm, _, _) in CASES.items() if algorithm.sparse_rows]
"""The cases whose algorithm takes rows (the others refuse them: tests/optim/test_algorithms.py)."""


@pytest.mark.parametrize("algorithm, peer, slots", [
    (optim.SGD(maximize=True), lambda p: torch.optim.SGD(p, maximize=True), ()),
    (optim.Adagrad(lr_decay=0.01, initial_accumulator_value=0.1, maximize=True),
     lambda p: torch.optim.Adagrad(p, lr_decay=0.01, initial_accumulator_value=0.1, maximize=True), ("sum",)),
    (optim.Adam(eps=1e-20, maximize=True), lambda p: torch.optim.SparseAdam(p, eps=1e-20, maximize=True),
     ("exp_avg", "exp_avg_sq")),
], ids=["sgd", "adagrad", "sparse-adam"])
def test_maximized_rows_match_torch_on_sparse_gradients(algorithm, peer, slots: tuple[str, ...]) -> None:
    params, state, theirs, their_state = _run_both(optim.OptimizerConfig(algorithm), peer, 3)
    errors = {"params": max_rel_error(LAYOUT.view(params, "table"), theirs)}
    errors |= {name: max_rel_error(LAYOUT.view(state.slots[name], "table"), their_state[name].numpy())
               for name in slots}
    print(f"{type(algorithm).__name__} rows, maximize: max rel error vs torch: {errors}")
    assert max(errors.values()) < RTOL, errors


@settings(max_examples=25, deadline=None)
@given(case=st.sampled_from(ROW_CASES), rows=st.lists(st.integers(0, TABLE[0] - 1), max_size=30),
       steps=st.integers(1, 3))
def test_only_the_named_rows_of_params_and_state_change(case: str, rows: list[int], steps: int) -> None:
    config = optim.OptimizerConfig(CASES[case][0])
    params = np.random.default_rng(0).standard_normal(LAYOUT.size).astype(np.float32)
    state = optim.init(config, LAYOUT.size)
    before = {"params": params.copy(), **{k: v.copy() for k, v in state.slots.items()}}
    values = np.ones((len(rows), TABLE[1]), np.float32)
    for _ in range(steps):
        state = optim.update_rows(config, params, {"table": optim.RowGradient(np.array(rows, np.int64), values)},
                                  state, 0.01, backend=FUSED, layout=LAYOUT)
    assert state.step == steps
    untouched = np.setdiff1d(np.arange(TABLE[0]), rows)
    for name, buffer in {"params": params, **state.slots}.items():
        table, table_before = LAYOUT.view(buffer, "table"), LAYOUT.view(before[name], "table")
        np.testing.assert_array_equal(table[untouched], table_before[untouched])
        np.testing.assert_array_equal(LAYOUT.view(buffer, "other"), LAYOUT.view(before[name], "other"))
    if rows:
        assert not np.array_equal(LAYOUT.view(params, "table")[rows], LAYOUT.view(before["params"], "table")[rows])


@pytest.mark.parametrize("case", ["sgd-nesterov", "rmsprop-all", "adagrad-options"])
def test_every_row_once_is_the_dense_step(case: str) -> None:
    """Adam is not here: rows follow torch's SparseAdam, which adds eps before the bias
    correction (the next test holds Adam's rows to SparseAdam itself)."""
    layout = optim.Layout.of({"table": TABLE})
    config = optim.OptimizerConfig(CASES[case][0], optim.GradientOptions(clipnorm=3.0))
    rng = np.random.default_rng(4)
    dense_params = rng.standard_normal(layout.size).astype(np.float32)
    row_params = dense_params.copy()
    dense, rowwise = optim.init(config, layout.size), optim.init(config, layout.size)
    for _ in range(3):
        grads = rng.standard_normal(TABLE).astype(np.float32)
        order = rng.permutation(TABLE[0])
        dense = optim.update(config, dense_params, grads.ravel(), dense, 0.01, backend=FUSED, layout=layout)
        rowwise = optim.update_rows(config, row_params, {"table": optim.RowGradient(order, grads[order])}, rowwise,
                                    0.01, backend=FUSED, layout=layout)
    # Clip scales come from sums of squares taken in a different order: equal to float32 rounding.
    np.testing.assert_allclose(row_params, dense_params, rtol=1e-6, atol=1e-7)


def test_adam_rows_are_sparse_adam_where_eps_matters() -> None:
    """Small gradients, so the second moment is near eps^2 and where eps enters shows."""
    import torch

    rng = np.random.default_rng(5)
    layout = optim.Layout.of({"table": TABLE})
    start = rng.standard_normal(TABLE).astype(np.float32)
    params, state = start.reshape(-1).copy(), optim.init(optim.OptimizerConfig(optim.Adam()), layout.size)
    peer = torch.nn.Parameter(torch.tensor(start))
    sparse_adam = torch.optim.SparseAdam([peer], lr=0.01)
    for _ in range(20):
        rows = np.unique(rng.integers(0, TABLE[0], 3))
        values = (rng.standard_normal((rows.size, TABLE[1])) * 1e-7).astype(np.float32)
        state = optim.update_rows(optim.OptimizerConfig(optim.Adam()), params, {"table": optim.RowGradient(rows, values)},
                                  state, 0.01, backend=FUSED, layout=layout)
        peer.grad = torch.sparse_coo_tensor(torch.tensor(rows)[None], torch.tensor(values), TABLE)
        sparse_adam.step()
    np.testing.assert_allclose(params.reshape(TABLE), peer.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_duplicate_rows_are_summed_before_the_step() -> None:
    config = optim.OptimizerConfig(optim.Adam())
    twice, once = (np.zeros(LAYOUT.size, np.float32) for _ in range(2))
    g = np.arange(TABLE[1], dtype=np.float32)[None]
    optim.update_rows(config, twice, {"table": optim.RowGradient(np.array([3, 3]), np.concatenate([g, g]))},
                      optim.init(config, LAYOUT.size), 0.1, backend=FUSED, layout=LAYOUT)
    optim.update_rows(config, once, {"table": optim.RowGradient(np.array([3]), 2 * g)},
                      optim.init(config, LAYOUT.size), 0.1, backend=FUSED, layout=LAYOUT)
    np.testing.assert_array_equal(twice, once)


@pytest.mark.parametrize("name, gradient, field", [
    ("table", optim.RowGradient(np.array([0, TABLE[0]]), np.ones((2, TABLE[1]), np.float32)), "grads[table].rows"),
    ("table", optim.RowGradient(np.array([-1]), np.ones((1, TABLE[1]), np.float32)), "grads[table].rows"),
    ("table", optim.RowGradient(np.array([1]), np.ones((1, TABLE[1] + 1), np.float32)), "grads[table].values"),
    ("table", optim.RowGradient(np.array([1]), np.ones((1, TABLE[1]), np.float64)), "grads[table].values"),
    ("table", optim.RowGradient(np.array([0.5]), np.ones((1, TABLE[1]), np.float32)), "grads[table].rows"),
    ("other", optim.RowGradient(np.array([1]), np.ones((1, 1), np.float32)), "grads[other]"),
    ("missing", optim.RowGradient(np.array([1]), np.ones((1, 1), np.float32)), "tensor"),
])
def test_bad_rows_are_refused_and_nothing_changes(name: str, gradient: optim.RowGradient, field: str) -> None:
    config = optim.OptimizerConfig(optim.Adam())
    params, state = np.ones(LAYOUT.size, np.float32), optim.init(config, LAYOUT.size)
    good = optim.RowGradient(np.array([2]), np.ones((1, TABLE[1]), np.float32))
    grads = {"table": good, name: gradient} if name != "table" else {name: gradient}
    with pytest.raises(InvalidArgument) as error:
        optim.update_rows(config, params, grads, state, 0.1, backend=FUSED, layout=LAYOUT)
    assert error.value.violations[0].field == field
    np.testing.assert_array_equal(params, 1)
    assert all(not slot.any() for slot in state.slots.values())


@pytest.mark.parametrize("policy", ["skip", "reject"])
def test_nonfinite_rows_change_nothing(policy: str) -> None:
    config = optim.OptimizerConfig(optim.Adagrad(), optim.GradientOptions(on_nonfinite=policy))
    params, state = np.ones(LAYOUT.size, np.float32), optim.init(config, LAYOUT.size)
    values = np.ones((2, TABLE[1]), np.float32)
    values[1, 3] = np.inf
    grads = {"table": optim.RowGradient(np.array([4, 9]), values)}
    if policy == "reject":
        with pytest.raises(InvalidArgument):
            optim.update_rows(config, params, grads, state, 0.1, backend=FUSED, layout=LAYOUT)
    else:
        state = optim.update_rows(config, params, grads, state, 0.1, backend=FUSED, layout=LAYOUT)
        assert (state.step, state.skipped_nonfinite) == (0, 1)
    np.testing.assert_array_equal(params, 1)
    assert not state.slots["sum"].any()
