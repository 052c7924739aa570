"""`lrctl.optax.schedule(job)` in real `optax.adam` loops on jax's CPU backend, through
`optax.inject_hyperparams` and `jax.jit`: value for value against optax's own schedules, and,
with reports, against torch's ReduceLROnPlateau (lrctl's plateau reference) setting the
peer's injected LR."""
from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402
import torch  # noqa: E402

import lrctl  # noqa: E402
import lrctl.optax  # noqa: E402

WARMUP, T_MAX, LR, ETA_MIN = 10, 50, 0.05, 0.001
SCHEDULE = {"lr": LR, "warmup": {"steps": WARMUP, "start_factor": 0.1},
            "schedule": {"cosine": {"t_max": T_MAX, "eta_min": ETA_MIN}}}
PLATEAU = {"lr": LR, "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 1, "threshold": 0.05}}
STEPS, REPORT_EVERY = WARMUP + T_MAX, 5
_ids = itertools.count()


def problem() -> tuple[dict[str, jax.Array], Callable[[dict[str, jax.Array], jax.Array, jax.Array], jax.Array],
                       jax.Array, jax.Array]:
    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (64, 3))
    y = jnp.sin(x @ jnp.array([1.0, -2.0, 0.5]))[:, None]
    params = {"w": jax.random.normal(jax.random.PRNGKey(1), (3, 1)) * 0.1, "b": jnp.zeros((1,))}

    def loss(p: dict[str, jax.Array], xs: jax.Array, ys: jax.Array) -> jax.Array:
        return jnp.mean((jnp.tanh(xs @ p["w"] + p["b"]) - ys) ** 2)

    return params, loss, x, y


def train(optimizer: optax.GradientTransformation, report: Callable[[int, float], float | None]) \
        -> tuple[list[float], dict[str, jax.Array]]:
    """An optax loop under jax.jit; every REPORT_EVERY steps `report(step, val_loss)` may
    answer a new LR for the injected hyperparameter (the peer's way of following a plateau)."""
    params, loss, x, y = problem()
    state = optimizer.init(params)

    @jax.jit
    def step(p: dict[str, jax.Array], s: Any) -> tuple[dict[str, jax.Array], Any]:
        grads = jax.grad(loss)(p, x[:48], y[:48])
        updates, s = optimizer.update(grads, s, p)
        return optax.apply_updates(p, updates), s

    lrs = []
    for t in range(STEPS):
        params, state = step(params, state)
        lrs.append(float(state.hyperparams["learning_rate"]))
        if (t + 1) % REPORT_EVERY == 0:
            new_lr = report(t + 1, float(loss(params, x[48:], y[48:])))
            if new_lr is not None:
                state.hyperparams["learning_rate"] = jnp.asarray(new_lr, jnp.float32)
    return lrs, params


def assert_same(ours: tuple[list[float], dict], theirs: tuple[list[float], dict]) -> None:
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6, atol=0)
    for name in ours[1]:
        np.testing.assert_allclose(ours[1][name], theirs[1][name], rtol=1e-5, atol=1e-7)


def test_schedule_matches_optax_warmup_cosine(client: lrctl.Client) -> None:
    job = client.create_job(f"optax-{next(_ids)}", SCHEDULE)
    ours = train(optax.inject_hyperparams(optax.adam)(learning_rate=lrctl.optax.schedule(job)), lambda s, v: None)
    peer_schedule = optax.join_schedules(
        [optax.linear_schedule(LR * 0.1, LR, WARMUP), optax.cosine_decay_schedule(LR, T_MAX, alpha=ETA_MIN / LR)],
        [WARMUP])
    theirs = train(optax.inject_hyperparams(optax.adam)(learning_rate=peer_schedule), lambda s, v: None)
    # After update t, inject_hyperparams holds the LR that update used: the schedule at count t.
    np.testing.assert_allclose(ours[0], [job.lr(t) for t in range(STEPS)], rtol=1e-6)
    assert_same(ours, theirs)


def test_reports_drive_the_lr_like_reduce_lr_on_plateau(client: lrctl.Client) -> None:
    job = client.create_job(f"optax-{next(_ids)}", PLATEAU)
    decisions = []

    def report(step: int, val_loss: float) -> None:
        decisions.append(job.report(step, val_loss=val_loss))

    ours = train(optax.inject_hyperparams(optax.adam)(learning_rate=lrctl.optax.schedule(job)), report)

    holder = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(holder, factor=0.5, patience=1, threshold=0.05)

    def torch_report(step: int, val_loss: float) -> float:
        plateau.step(val_loss)
        return holder.param_groups[0]["lr"]

    theirs = train(optax.inject_hyperparams(optax.adam)(learning_rate=LR), torch_report)
    assert sum(event.kind == "reduced" for d in decisions for event in d.events) >= 2, "the plateau reduced"
    assert_same(ours, theirs)
