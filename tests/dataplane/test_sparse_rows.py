"""Sparse row gradients through a real server: torch.optim.SparseAdam and sparse Adagrad as
peers, touched-rows replies, and out-of-range rows refused with nothing applied."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import lrctl
from tests.dataplane import _raw
from tests.dataplane._peer import POLICY, torch_scheduler
from tests.optim._torch_peer import max_rel_error

TABLE = (200, 16)
STEPS = 40
RTOL = 4e-6
# SparseAdam adds eps before bias-correcting the denominator, Adam after (see
# tests/optim/test_rows.py); a negligible eps makes the comparison about everything else.
CASES = {
    "sparse-adam": ({"adam": {"eps": 1e-20}}, lambda p: torch.optim.SparseAdam(p, lr=POLICY["lr"], eps=1e-20)),
    "sparse-adagrad": ({"adagrad": {"lr_decay": 0.01}},
                       lambda p: torch.optim.Adagrad(p, lr=POLICY["lr"], lr_decay=0.01)),
}


def batches(seed: int):
    """Per step: rows with duplicates (as an embedding lookup produces) and their gradients."""
    rng = np.random.default_rng(seed)
    for _ in range(STEPS):
        rows = rng.integers(0, TABLE[0], size=int(rng.integers(1, 60)))
        yield rows, rng.standard_normal((rows.size, TABLE[1])).astype(np.float32)


@pytest.mark.parametrize("case", list(CASES))
def test_sparse_steps_match_torch(client: lrctl.Client, case: str) -> None:
    spec, make_torch = CASES[case]
    rng = np.random.default_rng(5)
    start = {"table": rng.standard_normal(TABLE).astype(np.float32), "bias": np.ones(7, np.float32)}
    job = client.create_job(f"rows-{case}", POLICY, optimizer=spec)
    job.init_params(start)
    table = torch.nn.Parameter(torch.from_numpy(start["table"].copy()))
    peer = make_torch([table])
    scheduler = torch_scheduler(peer)
    worst = 0.0
    for step, (rows, values) in enumerate(batches(11)):
        with torch.sparse.check_sparse_tensor_invariants(enable=True):
            table.grad = torch.sparse_coo_tensor(torch.from_numpy(rows)[None], torch.from_numpy(values), TABLE)
            peer.step()
        scheduler.step()
        reply = job.step(step, {"table": lrctl.Rows(rows, values)}, reply="touched", chunk_bytes=256).params
        touched = reply["table"]
        np.testing.assert_array_equal(touched.rows, np.unique(rows))
        worst = max(worst, max_rel_error(touched.values, table.detach().numpy()[touched.rows]))
    params = job.pull().params
    worst = max(worst, max_rel_error(params["table"], table.detach().numpy()))
    print(f"{case}: max rel error vs torch over {STEPS} remote sparse steps: {worst:.2e}")
    assert worst < RTOL
    np.testing.assert_array_equal(params["bias"], start["bias"])


@pytest.mark.parametrize("rows, field", [([3, 200], "chunks[table].rows"), ([-1], "chunks[table].rows")])
def test_rows_out_of_range_are_refused_and_change_nothing(client: lrctl.Client, rows, field: str) -> None:
    job = client.create_job(f"rows-range-{rows[-1]}", POLICY, optimizer={"adam": {}})
    job.init_params({"table": np.zeros(TABLE, np.float32), "bias": np.zeros(7, np.float32)})
    job.step(0, {"table": lrctl.Rows(np.array([1, 2]), np.ones((2, TABLE[1])))})
    before = job.pull()
    with pytest.raises(lrctl.InvalidArgument) as error:
        _raw.step(client, job.job_id, 1, [_raw.chunk("table", TABLE, np.ones((1, 16)), rows=[7]),
                                          _raw.chunk("table", TABLE, np.ones((len(rows), 16)), rows=rows)])
    assert [f for f, _ in error.value.field_violations] == [field]
    after = job.pull()
    assert after.step == before.step
    np.testing.assert_array_equal(after.params["table"], before.params["table"])


def test_rows_of_a_1d_tensor_are_refused(client: lrctl.Client) -> None:
    job = client.create_job("rows-1d", POLICY, optimizer={"adam": {}})
    job.init_params({"table": np.zeros(TABLE, np.float32), "bias": np.zeros(7, np.float32)})
    with pytest.raises(lrctl.InvalidArgument, match="2-D"):
        _raw.step(client, job.job_id, 0, [_raw.chunk("bias", (7,), np.ones(7), rows=[0])])
    assert job.pull().step == 0


def test_retried_sparse_step_returns_the_touched_rows_and_applies_nothing(client: lrctl.Client) -> None:
    job = client.create_job("rows-retry", POLICY, optimizer={"adagrad": {}})
    job.init_params({"table": np.ones(TABLE, np.float32)})
    grads = {"table": lrctl.Rows(np.array([4, 9, 4]), np.ones((3, TABLE[1]), np.float32))}
    first = job.step(0, grads, reply="touched").params["table"]
    result = job.step(0, grads, reply="touched")
    assert result.duplicate
    again = result.params["table"]
    np.testing.assert_array_equal(again.rows, [4, 9])
    np.testing.assert_array_equal(again.values, first.values)
