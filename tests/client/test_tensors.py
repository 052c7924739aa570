"""What the SDK sends of a tensor: refusals for what the wire cannot hold, nothing for an
empty gradient, against a real server."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import lrctl
import lrctl.torch


def test_complex_parameters_and_gradients_are_refused_not_truncated(client: lrctl.Client) -> None:
    job = client.create_job("complex", {"lr": 0.1}, optimizer={"sgd": {}})
    with pytest.raises(TypeError, match="'w' is complex .complex64.: the data plane holds real float32 tensors"):
        job.init_params({"w": np.ones(3, np.complex64)})
    job.init_params({"w": np.ones(3, np.float32)})
    with pytest.raises(TypeError, match="is complex"):
        job.step(0, {"w": np.ones(3, np.complex128)})
    assert job.pull().step == 0, "nothing reached the server"


def test_an_empty_sparse_gradient_is_no_step_of_that_table_as_sparse_adam_does(client: lrctl.Client) -> None:
    job = client.create_job("empty-rows", {"lr": 0.1}, optimizer={"adam": {}})
    job.init_params({"table": np.ones((5, 4), np.float32), "w": np.ones(2, np.float32)})
    result = job.step(0, {"table": lrctl.Rows(np.zeros(0, np.int64), np.zeros((0, 4), np.float32)),
                          "w": np.full(2, 0.5, np.float32)}, reply="touched")
    assert result.server_step == 1 and set(result.params) == {"w"}
    assert job.pull().params["table"].tolist() == np.ones((5, 4)).tolist()

    table = torch.nn.Embedding(5, 4, sparse=True)
    optimizer = lrctl.torch.RemoteOptimizer(table.named_parameters(), client.create_job(
        "empty-embedding", {"lr": 0.1}, optimizer={"adam": {}}))
    table.weight.grad = torch.sparse_coo_tensor(torch.zeros((1, 0), dtype=torch.long), torch.zeros((0, 4)), (5, 4))
    before = table.weight.detach().clone()
    optimizer.step()
    assert torch.equal(table.weight, before)
