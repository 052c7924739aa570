"""The algorithms torch does not ship against optax (JAX on the CPU): float32, 200 steps, an LR
that moves every step (an optax schedule returning the same per-step LRs lrctl is given)."""
from __future__ import annotations

import numpy as np
import pytest

from lrctl.server import optim
from tests.optim._torch_peer import (
    FUSED, LAYOUT, OPTAX_CASES, REFERENCE, initial_params, max_rel_error, run_lrctl, schedule,
)
from tests.optim.test_parity_torch import RTOL, STEPS

jax = pytest.importorskip("jax", reason="optax parity needs JAX (the [test] extra)")
optax = pytest.importorskip("optax", reason="optax parity needs optax (the [test] extra)")
jnp = jax.numpy

OPTAX_SLOTS = {"lion": {"exp_avg": "mu"}, "lamb": {"exp_avg": "mu", "exp_avg_sq": "nu"}}
"""lrctl slot name -> the field of optax's state that holds it, per optax optimizer."""


def run_optax(name: str, kwargs: dict, params: np.ndarray, lrs, grads) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """optax.<name> (jitted) on one array per layout entry; flat params and flat state by lrctl slot name."""
    rates = jnp.asarray(lrs, dtype=jnp.float32)
    optimizer = getattr(optax, name)(learning_rate=lambda count: rates[count], **kwargs)
    tree = {s.name: jnp.asarray(LAYOUT.view(params, s.name)) for s in LAYOUT.spans}
    state = optimizer.init(tree)

    @jax.jit
    def step(tree, state, g):
        updates, state = optimizer.update(g, state, tree)
        return optax.apply_updates(tree, updates), state

    for flat in grads:
        tree, state = step(tree, state, {s.name: jnp.asarray(LAYOUT.view(flat, s.name)) for s in LAYOUT.spans})

    def flat(leaves: dict) -> np.ndarray:
        return np.concatenate([np.asarray(leaves[s.name]).ravel() for s in LAYOUT.spans])

    inner = next(part for part in state if hasattr(part, "mu"))
    return flat(tree), {ours: flat(getattr(inner, theirs)) for ours, theirs in OPTAX_SLOTS[name].items()}


@pytest.mark.parametrize("backend", [REFERENCE, FUSED], ids=["reference", "fused"])
@pytest.mark.parametrize("case", list(OPTAX_CASES))
def test_matches_optax_after_200_steps(case: str, backend) -> None:
    algorithm, peer, kwargs = OPTAX_CASES[case]
    params, (lrs, grads) = initial_params(7), schedule(STEPS, seed=7)
    theirs, their_slots = run_optax(peer.removeprefix("optax."), kwargs, params, lrs, grads)
    ours, state = run_lrctl(optim.OptimizerConfig(algorithm), backend, params, lrs, grads)
    assert state.step == STEPS
    assert set(their_slots) == set(state.slots)
    errors = {"params": max_rel_error(ours, theirs)}
    errors |= {name: max_rel_error(state.slots[name], their_slots[name]) for name in their_slots}
    print(f"{case} [{backend.kernels.name}] max rel error vs {peer}: {errors}")
    assert max(errors.values()) < RTOL, errors
