"""lrctl.torch.RemoteOptimizer against a real server: training with the server's optimizer
equals training with torch.optim and the equivalent scheduler."""
from __future__ import annotations

import uuid

import numpy as np
import pytest
import torch

import lrctl
from lrctl.torch import RemoteOptimizer
from tests.dataplane._peer import POLICY, torch_scheduler

STEPS = 40
RTOL = 1e-5
# SparseAdam adds eps before bias-correcting the denominator, Adam after (see
# tests/dataplane/test_sparse_rows.py); a negligible eps makes the comparison about everything else.
SPARSE_EPS = 1e-20


def new_job(client: lrctl.Client, optimizer: dict) -> lrctl.Job:
    return client.create_job(f"remote-opt-{uuid.uuid4().hex[:12]}", POLICY, optimizer=optimizer)


def mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))


def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(16, 8, generator=generator), torch.randn(16, 1, generator=generator))
            for _ in range(STEPS)]


def train_mlp(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler=None) -> list[float]:
    lrs = []
    for x, y in batches():
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return lrs


def assert_same_params(remote: torch.nn.Module, local: torch.nn.Module) -> None:
    for (name, ours), (_, theirs) in zip(remote.named_parameters(), local.named_parameters(), strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=RTOL, atol=1e-7,
                                   err_msg=name)


def test_mlp_matches_torch_adam_and_scheduler(client: lrctl.Client) -> None:
    job = new_job(client, {"adam": {}})
    local, remote = mlp(), mlp()
    local_opt = torch.optim.Adam(local.parameters(), lr=POLICY["lr"], foreach=False)
    local_lrs = train_mlp(local, local_opt, torch_scheduler(local_opt))
    optimizer = RemoteOptimizer(remote, job)
    assert isinstance(optimizer, torch.optim.Optimizer)
    remote_lrs = train_mlp(remote, optimizer)
    assert remote_lrs == pytest.approx(local_lrs, rel=1e-12, abs=0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(local_opt.param_groups[0]["lr"], rel=1e-12)
    assert_same_params(remote, local)
    assert optimizer.step_count == STEPS == job.pull().step
    assert optimizer.state_dict() == {"step": STEPS, "job_id": job.job_id}
    assert sorted(job.pull().params) == sorted(name for name, _ in remote.named_parameters())


def test_sparse_embedding_matches_torch_sparse_adam(client: lrctl.Client) -> None:
    job = new_job(client, {"adam": {"eps": SPARSE_EPS}})
    torch.manual_seed(3)
    local = torch.nn.Embedding(100, 8, sparse=True)
    remote = torch.nn.Embedding(100, 8, sparse=True)
    remote.load_state_dict(local.state_dict())
    local_opt = torch.optim.SparseAdam(local.parameters(), lr=POLICY["lr"], eps=SPARSE_EPS)
    scheduler = torch_scheduler(local_opt)
    optimizer = RemoteOptimizer(remote, job)
    generator = torch.Generator().manual_seed(4)
    for _ in range(STEPS):
        ids = torch.randint(0, 100, (24,), generator=generator)  # with duplicates, as lookups produce
        target = torch.randn(24, 8, generator=generator)
        for model, opt in ((local, local_opt), (remote, optimizer)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(ids), target).backward()
            opt.step()
        scheduler.step()
    assert_same_params(remote, local)
    assert job.pull().step == STEPS


class EmbeddingModel(torch.nn.Module):
    """A sparse embedding, a dense head, and a parameter the forward pass never uses."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.embedding = torch.nn.Embedding(50, 8, sparse=True)
        self.head = torch.nn.Linear(8, 1)
        self.unused = torch.nn.Parameter(torch.ones(3))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(ids))


def test_sparse_and_dense_grads_match_sparse_adam_and_adam(client: lrctl.Client) -> None:
    """torch's recipe for a sparse embedding in a dense model: SparseAdam on the embedding,
    Adam on the rest. One remote step carries the embedding's rows and the head's dense
    gradients; the parameter without a gradient is not sent and stays as it was."""
    job = new_job(client, {"adam": {"eps": SPARSE_EPS}})
    local, remote = EmbeddingModel(), EmbeddingModel()
    local_opts = [torch.optim.SparseAdam([local.embedding.weight], lr=POLICY["lr"], eps=SPARSE_EPS),
                  torch.optim.Adam([*local.head.parameters(), local.unused], lr=POLICY["lr"], eps=SPARSE_EPS,
                                   foreach=False)]
    schedulers = [torch_scheduler(opt) for opt in local_opts]
    optimizer = RemoteOptimizer(remote, job)
    generator = torch.Generator().manual_seed(6)
    for _ in range(STEPS):
        ids = torch.randint(0, 50, (16,), generator=generator)
        target = torch.randn(16, 1, generator=generator)
        for net, opts in ((local, local_opts), (remote, [optimizer])):
            for opt in opts:
                opt.zero_grad()
            torch.nn.functional.mse_loss(net(ids), target).backward()
            for opt in opts:
                opt.step()
        for scheduler in schedulers:
            scheduler.step()
    assert_same_params(remote, local)
    np.testing.assert_array_equal(job.pull().params["unused"], np.ones(3, np.float32))


def test_a_new_optimizer_on_a_stepped_job_loads_the_server_state(client: lrctl.Client) -> None:
    job = new_job(client, {"sgd": {"momentum": 0.9}})
    trained = mlp()
    first = RemoteOptimizer(list(trained.parameters()), job)
    assert first.names[:2] == ["p0", "p1"]
    train_mlp(trained, first)
    saved = first.state_dict()
    fresh = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    resumed = RemoteOptimizer(fresh.parameters(), job)
    assert resumed.step_count == STEPS
    for ours, theirs in zip(fresh.parameters(), trained.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == job.lr(STEPS)
    with pytest.raises(ValueError, match="saved for job"):
        resumed.load_state_dict({"step": 0, "job_id": "another"})


def test_params_are_named_and_groups_refused(client: lrctl.Client) -> None:
    job = new_job(client, {"sgd": {}})
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = RemoteOptimizer([("weight", weight)], job)
    assert list(job.pull().params) == ["weight"]
    weight.grad = torch.ones(3)
    optimizer.step()
    optimizer.zero_grad()
    assert weight.grad is None
    np.testing.assert_allclose(weight.detach().numpy(), 1 - optimizer.last_lr)
    with pytest.raises(ValueError, match="param group dicts"):
        RemoteOptimizer([{"params": [weight]}], job)
