"""Kernel warm-up for cold start, in fresh processes with their own numba cache directory:
warm_up compiles every kernel of the CPU backend and writes each to the cache, a Step
afterwards compiles nothing more, and the next process loads every kernel from the cache
instead of compiling. (chunk_table, which they call, is compiled into each of them.)"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from lrctl.server import optim

REPO = pathlib.Path(__file__).resolve().parents[2]

PROBE = """
import json
import numpy as np
from lrctl.server import optim
from lrctl.server.backends import cpu_backend, cpu_kernels
from tests.optim._torch_peer import CASES, layout_for

kernels = {"segment_sumsq": cpu_kernels.segment_sumsq, **cpu_kernels.FUSED}
compiled = lambda: {name: len(kernel.signatures) for name, kernel in kernels.items()}
before = compiled()
backend = cpu_backend(1)
warmed = optim.warm_up(backend)
after_warm_up = compiled()
options = [optim.GradientOptions(), optim.GradientOptions(clipnorm=1.0), optim.GradientOptions(clipvalue=0.5)]
rng = np.random.default_rng(0)
for algorithm, _, _ in CASES.values():
    for gradient in options:
        config, layout = optim.OptimizerConfig(algorithm, gradient), layout_for(algorithm)
        params = rng.standard_normal(layout.size).astype(np.float32)
        grads = rng.standard_normal(layout.size).astype(np.float32)
        state = optim.init(config, layout)
        state = optim.update(config, params, grads, state, 1e-2, backend=backend, layout=layout)
        rows = {"embedding": optim.RowGradient(np.array([3, 3, 9]), np.ones((3, 13), np.float32))}
        state = optim.update_tensors(config, params, grads, state, 1e-2, backend=backend, layout=layout,
                                     dense=[layout.spans[1].name], rows=rows if algorithm.sparse_rows else {})
print(json.dumps({
    "warmed": warmed, "before": before, "after_warm_up": after_warm_up, "after_steps": compiled(),
    "cache_hits": {name: sum(kernel.stats.cache_hits.values()) for name, kernel in kernels.items()},
    "cache_misses": {name: sum(kernel.stats.cache_misses.values()) for name, kernel in kernels.items()},
}))
"""


def _probe(cache_dir: pathlib.Path) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def cold_then_warm(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, pathlib.Path]:
    cache_dir = tmp_path_factory.mktemp("numba-cache")
    return _probe(cache_dir), _probe(cache_dir), cache_dir


def test_warm_up_compiles_every_kernel_so_a_step_compiles_nothing(cold_then_warm) -> None:
    cold, _, _ = cold_then_warm
    assert cold["warmed"] == list(optim.ALGORITHMS)
    assert not any(cold["before"].values())
    assert all(cold["after_warm_up"].values()), cold["after_warm_up"]
    assert cold["after_steps"] == cold["after_warm_up"]


def test_a_cold_warm_up_fills_the_cache_with_every_kernel(cold_then_warm) -> None:
    cold, _, cache_dir = cold_then_warm
    assert all(cold["cache_misses"].values()) and not any(cold["cache_hits"].values())
    indexed = {path.name.split("-")[0].split(".")[-1] for path in cache_dir.rglob("*.nbi")}
    assert set(cold["after_warm_up"]) <= indexed, indexed


def test_the_next_process_loads_every_kernel_from_the_cache(cold_then_warm) -> None:
    _, warm, _ = cold_then_warm
    assert all(warm["cache_hits"].values()) and not any(warm["cache_misses"].values()), warm
    assert warm["after_steps"] == warm["after_warm_up"]
