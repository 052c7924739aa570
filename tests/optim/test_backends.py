"""Backend choice, thread control and concurrent launches."""
from __future__ import annotations

import logging
import threading

import numba
import numpy as np
import pytest

from lrctl.server import optim
from lrctl.server.backends import cpu_backend, cpu_kernels, select_backend
from lrctl.server.backends.chunk_table import chunk_table
from lrctl.server.errors import InvalidArgument
from tests.optim._torch_peer import CASES, FUSED, LAYOUT, initial_params, schedule
from tests.support.gpu import gpu_problem


def test_cpu_is_numpy_with_fused_kernels() -> None:
    backend = select_backend("cpu")
    assert backend.device == "cpu" and backend.xp is np and backend.kernels.name.startswith("numba-fused")


def test_auto_takes_the_gpu_when_there_is_one_else_the_cpu_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    problem = gpu_problem()
    with caplog.at_level(logging.INFO, logger="lrctl.server.backends.selection"):
        backend = select_backend("auto")
    if problem is None:
        assert backend.device == "cuda" and "CuPy on GPU" in caplog.text
    else:
        assert backend.device == "cpu" and "numba-fused" in caplog.text
        assert f"no GPU backend: {problem}" in caplog.text


def test_cuda_without_a_usable_gpu_is_refused_with_the_reason() -> None:
    problem = gpu_problem()
    if problem is None:
        pytest.skip("this machine has a GPU that CuPy sees")
    with pytest.raises(InvalidArgument) as error:
        select_backend("cuda")
    assert error.value.violations[0].field == "device"
    assert error.value.violations[0].description == f"cuda is not usable here: {problem}"


def test_unknown_device_and_bad_thread_counts_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="device"):
        select_backend("tpu")
    for threads in (0, numba.config.NUMBA_NUM_THREADS + 1, 1.5):
        with pytest.raises(InvalidArgument, match="threads"):
            cpu_backend(threads)


def test_the_thread_count_reaches_launches_from_other_threads() -> None:
    one = cpu_backend(1)
    seen = []

    def worker() -> None:
        one.kernels.segment_sumsq(np.ones(10, np.float32), np.array([0, 10]))
        seen.append(numba.get_num_threads())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [1]


def test_concurrent_steps_from_many_threads_are_safe_and_exact() -> None:
    config = optim.OptimizerConfig(CASES["adam-amsgrad"][0])
    lrs, grads = schedule(20, seed=8)

    def run(out: list) -> None:
        params, state = initial_params(8), optim.init(config, LAYOUT.size)
        for lr, g in zip(lrs, grads):
            state = optim.update(config, params, g, state, lr, backend=FUSED)
        out.append(params)

    results: list = []
    threads = [threading.Thread(target=run, args=(results,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(np.array_equal(r, results[0]) for r in results)


def test_every_cpu_kernel_releases_the_gil_and_is_cached_on_disk() -> None:
    for kernel in (chunk_table, cpu_kernels.segment_sumsq, *cpu_kernels.FUSED.values()):
        assert kernel.targetoptions["nogil"] and kernel.stats.cache_path, kernel.py_func.__name__
