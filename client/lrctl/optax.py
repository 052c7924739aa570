"""JAX / optax integration: `schedule(job)`, an optax schedule whose values come from an lrctl job.

    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=lrctl.optax.schedule(job))
    ...
    decision = job.report(step, val_loss=float(val_loss))      # plateau, early stopping

The step is optax's own `count` (updates applied), as for every optax schedule. The value is
fetched on the host through `jax.pure_callback`, so the schedule works inside `jax.jit`;
`job.lr` serves it from the job's lease (one RPC per `job.horizon` steps while nothing
changes). A report at step t changes the LR from t on and never that of an earlier step, so
an update already dispatched keeps the LR it was given.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from lrctl.job import Job


def schedule(job: Job, dtype: Any = jnp.float32) -> Callable[[Any], jax.Array]:
    """`count -> job.lr(count)` as an optax schedule (a scalar of `dtype`), usable as any
    optax optimizer's `learning_rate` and under `optax.inject_hyperparams`."""
    result = jax.ShapeDtypeStruct((), dtype)

    def on_host(count: np.ndarray) -> np.ndarray:
        return np.asarray(job.lr(int(count)), dtype=dtype)

    def learning_rate(count: Any) -> jax.Array:
        return jax.pure_callback(on_host, result, count)

    return learning_rate
