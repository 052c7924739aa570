"""Steps that carry some tensors dense, some as rows and leave others out, through a real
server, against torch.optim: dense tensors get torch's dense update, tables SparseAdam's
lazy one, and a tensor left out is a parameter whose `.grad` is None."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import lrctl
from tests.dataplane._peer import POLICY, torch_scheduler
from tests.optim._torch_peer import max_rel_error

STEPS = 30
RTOL = 4e-6
SHAPES = {"table": (60, 8), "w": (8, 4), "b": (4,)}
# SparseAdam adds eps before bias-correcting the denominator, Adam after (see
# tests/optim/test_rows.py); a negligible eps makes the comparison about everything else.
EPS = 1e-20


def start(seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def parameters(values: dict[str, np.ndarray]) -> dict[str, torch.nn.Parameter]:
    return {name: torch.nn.Parameter(torch.from_numpy(value.copy())) for name, value in values.items()}


def test_rows_and_dense_tensors_in_one_step_match_sparse_adam_and_adam(client: lrctl.Client) -> None:
    values = start()
    job = client.create_job("mixed-adam", POLICY, optimizer={"adam": {"eps": EPS}})
    job.init_params(values)
    peer = parameters(values)
    sparse = torch.optim.SparseAdam([peer["table"]], lr=POLICY["lr"], eps=EPS)
    dense = torch.optim.Adam([peer["w"], peer["b"]], lr=POLICY["lr"], eps=EPS, foreach=False)
    schedulers = [torch_scheduler(sparse), torch_scheduler(dense)]
    rng = np.random.default_rng(8)
    worst = 0.0
    for step in range(STEPS):
        rows = rng.integers(0, SHAPES["table"][0], size=int(rng.integers(1, 20)))  # duplicates included
        table_grad = rng.standard_normal((rows.size, SHAPES["table"][1])).astype(np.float32)
        dense_grads = {name: rng.standard_normal(SHAPES[name]).astype(np.float32) for name in ("w", "b")}
        with torch.sparse.check_sparse_tensor_invariants(enable=True):
            peer["table"].grad = torch.sparse_coo_tensor(torch.from_numpy(rows)[None],
                                                         torch.from_numpy(table_grad), SHAPES["table"])
        for name, grad in dense_grads.items():
            peer[name].grad = torch.from_numpy(grad)
        for optimizer in (sparse, dense):
            optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
        reply = job.step(step, {"table": lrctl.Rows(rows, table_grad), **dense_grads}, reply="touched",
                         chunk_bytes=128).params
        assert sorted(reply) == ["b", "table", "w"]
        np.testing.assert_array_equal(reply["table"].rows, np.unique(rows))
        worst = max(worst, max_rel_error(reply["table"].values, peer["table"].detach().numpy()[np.unique(rows)]))
        for name in ("w", "b"):
            worst = max(worst, max_rel_error(reply[name], peer[name].detach().numpy()))
    pulled = job.pull().params
    for name, tensor in peer.items():
        worst = max(worst, max_rel_error(pulled[name], tensor.detach().numpy()))
    print(f"mixed rows + dense Adam: max rel error vs torch over {STEPS} steps: {worst:.2e}")
    assert worst < RTOL


def test_tensors_left_out_of_a_step_are_like_a_none_grad(client: lrctl.Client) -> None:
    """SGD with nesterov momentum and weight decay; torch skips a parameter whose .grad is
    None, so neither it nor its momentum moves. (Every tensor is in step 0: the server's step
    count is per job, torch's first-step momentum init is per parameter; after the first step
    the two agree.)"""
    values = start(9)
    spec = {"sgd": {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}}
    job = client.create_job("mixed-left-out", POLICY, optimizer=spec)
    job.init_params(values)
    peer = parameters(values)
    optimizer = torch.optim.SGD(list(peer.values()), lr=POLICY["lr"], momentum=0.9, nesterov=True,
                                weight_decay=0.01, foreach=False)
    scheduler = torch_scheduler(optimizer)
    left_out = {3: {"b"}, 4: {"b", "table"}, 7: {"w"}}
    rng = np.random.default_rng(10)
    worst, previous = 0.0, values
    for step in range(12):
        grads = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()
                 if name not in left_out.get(step, set())}
        for name, tensor in peer.items():
            tensor.grad = torch.from_numpy(grads[name]) if name in grads else None
        optimizer.step()
        scheduler.step()
        touched = job.step(step, grads, reply="touched").params
        assert sorted(touched) == sorted(grads), "a touched reply carries only the tensors the step changed"
        pulled = job.pull().params
        for name, tensor in peer.items():
            if name not in grads:
                np.testing.assert_array_equal(pulled[name], previous[name])
            worst = max(worst, max_rel_error(pulled[name], tensor.detach().numpy()))
        previous = pulled
    print(f"SGD with tensors left out: max rel error vs torch: {worst:.2e}")
    assert worst < RTOL


def test_a_step_with_no_tensors_changes_no_parameter(client: lrctl.Client) -> None:
    job = client.create_job("mixed-empty", POLICY, optimizer={"adam": {}})
    job.init_params(start())
    before = job.pull()
    result = job.step(0, {}, reply="touched")
    assert result.params == {} and result.server_step == 1
    after = job.pull()
    for name, value in before.params.items():
        np.testing.assert_array_equal(after.params[name], value)


@pytest.mark.parametrize("clipping", [{"global_clipnorm": 0.5}, {"clipnorm": 0.5}])
def test_clipping_measures_rows_and_dense_tensors_together(client: lrctl.Client, clipping: dict) -> None:
    """global_clipnorm takes one norm over everything the step carried (a table's coalesced
    rows included); clipnorm one per tensor. Plain SGD makes the clipped gradient visible:
    the change is lr * the clipped gradient."""
    values = start(11)
    job = client.create_job(f"mixed-clip-{next(iter(clipping))}", {"lr": 1.0}, optimizer={"sgd": {}, **clipping})
    job.init_params(values)
    rows = np.array([2, 5, 2])
    table_grad = np.full((3, 8), 0.25, np.float32)
    w_grad = np.full((8, 4), 0.5, np.float32)
    reply = job.step(0, {"table": lrctl.Rows(rows, table_grad), "w": w_grad}, reply="touched").params
    coalesced = np.stack([table_grad[0] + table_grad[2], table_grad[1]])
    norms = {"table": float(np.linalg.norm(coalesced)), "w": float(np.linalg.norm(w_grad))}
    limit = next(iter(clipping.values()))
    if "global_clipnorm" in clipping:
        total = float(np.hypot(norms["table"], norms["w"]))
        scales = dict.fromkeys(norms, limit / max(total, limit))
    else:
        scales = {name: limit / max(norm, limit) for name, norm in norms.items()}
    np.testing.assert_allclose(values["w"] - reply["w"], scales["w"] * w_grad, atol=1e-6)
    np.testing.assert_allclose(values["table"][[2, 5]] - reply["table"].values, scales["table"] * coalesced,
                               atol=1e-6)
    assert "b" not in reply
