"""Remote steps through a real server equal torch.optim on the same data (float32 wire).

Each job runs 50 steps under a warmup -> cosine policy; torch runs the same optimizer under
SequentialLR(LinearLR -> CosineAnnealingLR). The reply of every step is compared with
torch's parameters after that step, and the LR the server used with torch's.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import lrctl
from tests.dataplane._peer import MATRICES, POLICY, SHAPES, TorchRun, gradients, initial_params, torch_lrs
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
    "adam-maximize": ({"adam": {"weight_decay": 1e-2, "maximize": True}}, torch.optim.Adam,
                      {"weight_decay": 1e-2, "maximize": True}),
    "nadam": ({"nadam": {"betas": [0.8, 0.99], "weight_decay": 1e-2, "momentum_decay": 1e-2,
                         "decoupled_weight_decay": True, "maximize": True}}, torch.optim.NAdam,
              {"betas": (0.8, 0.99), "weight_decay": 1e-2, "momentum_decay": 1e-2, "decoupled_weight_decay": True,
               "maximize": True}),
    "radam": ({"radam": {"weight_decay": 1e-2}}, torch.optim.RAdam, {"weight_decay": 1e-2}),
    "adamax": ({"adamax": {"betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 1e-2}}, torch.optim.Adamax,
               {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 1e-2}),
    "adadelta": ({"adadelta": {"rho": 0.8, "weight_decay": 1e-2, "maximize": True}}, torch.optim.Adadelta,
                 {"rho": 0.8, "weight_decay": 1e-2, "maximize": True}),
    "adafactor": ({"adafactor": {"beta2_decay": -0.6, "eps2": 1e-2, "d": 1.2, "weight_decay": 1e-2,
                                 "maximize": True}}, torch.optim.Adafactor,
                  {"beta2_decay": -0.6, "eps": (None, 1e-2), "d": 1.2, "weight_decay": 1e-2, "maximize": True}),
    "muon": ({"muon": {"momentum": 0.9, "adjust_lr_fn": "match_rms_adamw"}}, torch.optim.Muon,
             {"momentum": 0.9, "adjust_lr_fn": "match_rms_adamw"}),
}
SHAPES_OF = {"muon": MATRICES}
"""Muon steps matrices only (a job with anything else is refused: below)."""
RTOL_OF = {"muon": 2e-3}
"""Muon's iterate is bfloat16 in torch and here (tests/optim/test_parity_torch.py says why 2e-3)."""
LRS = {"adadelta": 2.0}
"""Base LRs other than POLICY's: Adadelta's steps are ~1e-3 of the LR (torch's default lr is 1.0)."""


@pytest.mark.parametrize("case", list(CASES))
def test_remote_steps_match_torch(client: lrctl.Client, case: str) -> None:
    spec, torch_class, kwargs = CASES[case]
    shapes = SHAPES_OF.get(case, SHAPES)
    params = initial_params(shapes=shapes)
    lr = LRS.get(case, POLICY["lr"])
    job = client.create_job(f"parity-{case}", {**POLICY, "lr": lr}, optimizer=spec)
    assert job.init_params(params, chunk_bytes=512) == sum(p.size for p in params.values())
    peer = TorchRun(torch_class, kwargs, params, lr)
    worst = 0.0
    for step, grads in enumerate(gradients(STEPS, shapes=shapes)):
        lr = peer.step(grads)
        result = job.step(step, grads, chunk_bytes=512 if step % 2 else 1 << 20)
        assert result.lr == pytest.approx(lr, rel=1e-12)
        ours = result.params
        theirs = peer.params()
        worst = max(worst, *(max_rel_error(ours[name], theirs[name]) for name in theirs))
    print(f"{case}: max rel error vs torch over {STEPS} remote steps: {worst:.2e}")
    assert worst < RTOL_OF.get(case, RTOL)
    assert job.pull().step == STEPS


def test_a_muon_job_refuses_a_tensor_that_is_not_a_matrix_and_takes_matrices_after(client: lrctl.Client) -> None:
    job = client.create_job("muon-shapes", POLICY, optimizer={"muon": {}})
    with pytest.raises(lrctl.InvalidArgument, match=r"bias.*Muon only supports 2D parameters, got shape \[8\]"):
        job.init_params(initial_params())
    params = initial_params(shapes=MATRICES)
    assert job.init_params(params) == sum(p.size for p in params.values())


OPTAX_CASES = {"lion": {"b1": 0.8, "b2": 0.95, "weight_decay": 0.1},
               "lamb": {"b1": 0.8, "b2": 0.99, "eps": 1e-4, "weight_decay": 0.1}}
"""The algorithms torch does not ship, with optax's arguments (the same names in the spec)."""


@pytest.mark.parametrize("member", list(OPTAX_CASES))
def test_remote_steps_match_optax(client: lrctl.Client, member: str) -> None:
    """No torch class: optax.<member> (jitted, JAX on the CPU) under the same LRs, which torch's
    scheduler gives for the policy (the LR the server used is checked against it)."""
    jax = pytest.importorskip("jax", reason=f"{member}'s parity needs JAX (the [test] extra)")
    optax = pytest.importorskip("optax", reason=f"{member}'s parity needs optax (the [test] extra)")
    params = initial_params()
    lrs = torch_lrs(STEPS)
    rates = jax.numpy.asarray(lrs, dtype=jax.numpy.float32)
    peer = getattr(optax, member)(lambda count: rates[count], **OPTAX_CASES[member])
    theirs = {name: jax.numpy.asarray(value) for name, value in params.items()}
    state = peer.init(theirs)
    step_peer = jax.jit(lambda p, s, g: (lambda u, s: (optax.apply_updates(p, u), s))(*peer.update(g, s, p)))
    job = client.create_job(f"parity-{member}", POLICY, optimizer={member: OPTAX_CASES[member]})
    job.init_params(params, chunk_bytes=512)
    worst = 0.0
    for step, grads in enumerate(gradients(STEPS)):
        theirs, state = step_peer(theirs, state, {name: jax.numpy.asarray(g) for name, g in grads.items()})
        result = job.step(step, grads, chunk_bytes=512 if step % 2 else 1 << 20)
        assert result.lr == pytest.approx(lrs[step], rel=1e-12)
        worst = max(worst, *(max_rel_error(result.params[name], np.asarray(theirs[name])) for name in theirs))
    print(f"{member}: max rel error vs optax over {STEPS} remote steps: {worst:.2e}")
    assert worst < RTOL
