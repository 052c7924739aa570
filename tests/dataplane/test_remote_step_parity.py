"""Remote steps through a real server equal torch.optim on the same data (float32 wire).

Each job runs 50 steps under a warmup -> cosine policy; torch runs the same optimizer under
SequentialLR(LinearLR -> CosineAnnealingLR). The reply of every step is compared with
torch's parameters after that step, and the LR the server used with torch's.
"""
from __future__ import annotations

import pytest
import torch

import lrctl
from tests.dataplane._peer import POLICY, TorchRun, gradients, initial_params
from tests.optim._torch_peer import max_rel_error

STEPS = 50
# The optimizer parity tests measure <= 6e-7 after 200 steps on the same kernels; the wire
# adds nothing in float32. A wrong equation, LR or step count is off by > 1e-3.
RTOL = 4e-6

CASES = {
    "adam": ({"adam": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 1e-2, "amsgrad": True}},
             torch.optim.Adam, {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2, "amsgrad": True}),
    "adamw": ({"adamw": {"weight_decay": 0.1}}, torch.optim.AdamW, {"weight_decay": 0.1}),
    "sgd-nesterov": ({"sgd": {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}}, torch.optim.SGD,
                     {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    "rmsprop-centered": ({"rmsprop": {"alpha": 0.9, "centered": True, "momentum": 0.5}}, torch.optim.RMSprop,
                         {"alpha": 0.9, "centered": True, "momentum": 0.5}),
    "adagrad": ({"adagrad": {"lr_decay": 0.01, "initial_accumulator_value": 0.1}}, torch.optim.Adagrad,
                {"lr_decay": 0.01, "initial_accumulator_value": 0.1}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_remote_steps_match_torch(client: lrctl.Client, case: str) -> None:
    spec, torch_class, kwargs = CASES[case]
    params = initial_params()
    job = client.create_job(f"parity-{case}", POLICY, optimizer=spec)
    assert job.init_params(params, chunk_bytes=512) == sum(p.size for p in params.values())
    peer = TorchRun(torch_class, kwargs, params)
    worst = 0.0
    for step, grads in enumerate(gradients(STEPS)):
        lr = peer.step(grads)
        result = job.step(step, grads, chunk_bytes=512 if step % 2 else 1 << 20)
        assert result.lr == pytest.approx(lr, rel=1e-12)
        ours = result.params
        theirs = peer.params()
        worst = max(worst, *(max_rel_error(ours[name], theirs[name]) for name in theirs))
    print(f"{case}: max rel error vs torch over {STEPS} remote steps: {worst:.2e}")
    assert worst < RTOL
    assert job.pull().step == STEPS
