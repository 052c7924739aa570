"""The CUDA kernels, verified without a GPU: cuda_kernels.cu built by g++ and run block by block
(cuda_emulator.py) behind the production wrappers of cupy_kernels.py.

Shown here: the kernels' float32 arithmetic equals the CPU kernels' bit for bit (g++ with
-ffp-contract=off rounds every operation once, as the GPU build does with --fmad=false; the
emulation flushes subnormals to zero as CuPy's -ftz=true build does, and the one difference
that makes is pinned down by its own test); chunking, block striding, the shared-memory
tree and the atomics cover every element and segment exactly once, for odd segment sizes,
empty and one-element segments included; every argument reaches the kernel with its C type
and an empty grid is never launched; the source compiles for sm_90 with no warning, no fused
multiply-add and no approximate division or square root. Left to a GPU (the last tests,
skipped without one): NVRTC, CuPy's marshalling, the device's memory model and its
flush-to-zero against the emulated one.
"""
from __future__ import annotations

import inspect
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lrctl.server import optim
from lrctl.server.backends import Backend, Kernels, cupy_kernels
from lrctl.server.optim import steps
from tests.backends.cuda_emulator import EmulatedLaunch, HostDevice, signatures
from tests.optim._torch_peer import CASES, FUSED, REFERENCE, ReferenceOnlyAdam, layout_for, max_rel_error
from tests.support.gpu import gpu_problem

THREADS = 8
CHUNK = 64
"""Emulation sizes: a few hundred elements span many blocks, each thread loops over its chunk."""

SIZES = (0, 1, 63, 64, 65, 130, 7, 0, 257, 3)
"""Segment sizes around CHUNK, empty and one-element segments included."""

LAYOUT = optim.Layout.of({"empty": (0,), "one": (1,), "table": (37, 9), "bias": (65,), "conv": (2, 3, 5, 7)})
OPTIONS = {
    "clipnorm-decay": optim.GradientOptions(clipnorm=5.0, decay=1e-3),
    "global-clipnorm": optim.GradientOptions(global_clipnorm=8.0),
    "clipvalue": optim.GradientOptions(clipvalue=0.5),
}
STEPS = 3

SUMSQ_RTOL = 1e-12
"""Each float32 square is exact in double, but the kernels add in different orders (thread
strides, a tree, atomics in block order; numba's vectorized chunks), all terms positive, so
the sums agree to about n * 2^-53 relative (~1e-13 here)."""

f32 = np.float32


KERNEL_CASES = [case for case, (algorithm, _, _) in CASES.items() if not isinstance(algorithm, optim.TensorAlgorithm)]
"""The cases of elementwise algorithms, which have kernels; whole-tensor algorithms (Adafactor,
Muon, LAMB) run array operations on the backend's module, CuPy on a GPU."""
TENSOR_CASES = [case for case in CASES if case not in KERNEL_CASES]


def _bounds(sizes) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


@pytest.fixture(scope="module")
def launch(cuda_library: Path) -> EmulatedLaunch:
    return EmulatedLaunch(cuda_library, threads=THREADS)


@pytest.fixture(scope="module")
def emulated(launch: EmulatedLaunch) -> Kernels:
    return cupy_kernels.kernels(launch, chunk=CHUNK, threads=THREADS)


def test_every_cuda_kernel_is_named_by_an_algorithm_and_its_wrapper_takes_the_reference_arguments(
        emulated: Kernels) -> None:
    algorithms = {cls.kernel: cls for cls in optim.ALGORITHMS.values() if hasattr(cls, "kernel")}
    # A wrapper may launch a second pass, named after it with "_apply" (LAMB's step, after its norms).
    assert {name.removesuffix("_apply") for name in signatures(cupy_kernels.source())} == {
        "segment_sumsq", *emulated.fused}
    assert set(emulated.fused) <= set(algorithms)
    for name, wrapper in emulated.fused.items():
        ours, theirs = inspect.signature(wrapper).parameters, inspect.signature(algorithms[name].reference).parameters
        assert list(ours) == list(theirs), name


@pytest.mark.parametrize("threads", [1, 6, 32])
def test_segment_sumsq_matches_the_cpu_kernels(cuda_library: Path, threads: int) -> None:
    # 6 is no power of two and 32 exceeds the small segments: both reach every tree branch.
    kernels = cupy_kernels.kernels(EmulatedLaunch(cuda_library, threads=threads), chunk=CHUNK, threads=threads)
    bounds = _bounds(SIZES)
    rng = np.random.default_rng(threads)
    g = (rng.standard_normal(bounds[-1]) * rng.uniform(0.1, 100, bounds[-1])).astype(np.float32)
    ours = kernels.segment_sumsq(g, bounds)
    assert ours.dtype == np.float64 and ours.shape == (len(SIZES),)
    assert ours[0] == 0 and ours[7] == 0
    for theirs in (FUSED.kernels.segment_sumsq(g, bounds), REFERENCE.kernels.segment_sumsq(g, bounds)):
        np.testing.assert_allclose(ours, theirs, rtol=SUMSQ_RTOL, atol=0)
    g[bounds[5] + 100] = np.nan
    g[bounds[8]] = np.inf
    assert np.flatnonzero(~np.isfinite(kernels.segment_sumsq(g, bounds))).tolist() == [5, 8]


@pytest.mark.parametrize("clip", [np.inf, 0.9], ids=["no-clipvalue", "clipvalue"])
@pytest.mark.parametrize("case", KERNEL_CASES)
def test_step_kernels_equal_the_cpu_kernels_bit_for_bit(emulated: Kernels, case: str, clip: float) -> None:
    algorithm = CASES[case][0]
    bounds = _bounds(SIZES)
    n = int(bounds[-1])
    rng = np.random.default_rng(len(case))
    start = rng.standard_normal(n).astype(np.float32)
    scales = rng.uniform(0.25, 1.0, len(SIZES)).astype(np.float32)
    lrs, grads = rng.uniform(1e-3, 5e-2, STEPS), [rng.standard_normal(n).astype(np.float32) for _ in range(STEPS)]
    results = {}
    for name, kernels in (("emulated", emulated), ("fused", FUSED.kernels), ("reference", REFERENCE.kernels)):
        params, state = start.copy(), optim.init(optim.OptimizerConfig(algorithm), n)
        for step, (lr, g) in enumerate(zip(lrs, grads), start=1):
            steps.apply(algorithm, kernels, params, g, state.slots, bounds, scales, f32(clip), lr, step)
        results[name] = {"params": params, **state.slots}
    for theirs in ("fused", "reference"):
        for slot, ours in results["emulated"].items():
            np.testing.assert_array_equal(ours, results[theirs][slot], err_msg=f"{slot} vs {theirs}")


def _run_update(config: optim.OptimizerConfig, backend: Backend, seed: int, xp=np):
    rng, layout = np.random.default_rng(seed), layout_for(config.algorithm, LAYOUT)
    params = xp.asarray(rng.standard_normal(layout.size).astype(np.float32))
    state = optim.init(config, layout, xp=xp)
    for _ in range(STEPS):
        g = xp.asarray(rng.standard_normal(layout.size).astype(np.float32))
        state = optim.update(config, params, g, state, float(rng.uniform(1e-3, 5e-2)), backend=backend, layout=layout)
    return params, state


@pytest.mark.parametrize("options", list(OPTIONS))
@pytest.mark.parametrize("case", list(CASES))
def test_update_on_emulated_cuda_equals_the_cpu_backend(emulated: Kernels, case: str, options: str) -> None:
    config = optim.OptimizerConfig(CASES[case][0], OPTIONS[options])
    ours, our_state = _run_update(config, Backend("cuda-emulated", np, emulated, HostDevice()), seed=5)
    theirs, their_state = _run_update(config, FUSED, seed=5)
    assert our_state.step == their_state.step == STEPS
    np.testing.assert_array_equal(ours, theirs)
    for name, slot in their_state.slots.items():
        np.testing.assert_array_equal(our_state.slots[name], slot, err_msg=name)


@pytest.mark.parametrize("case", ["sgd-nesterov", "adagrad-options", "rmsprop-all", "adam-all", "adamw-amsgrad"])
def test_sparse_row_updates_on_emulated_cuda_equal_the_cpu_backend(emulated: Kernels, case: str) -> None:
    config = optim.OptimizerConfig(CASES[case][0], optim.GradientOptions(clipnorm=3.0))
    results = []
    for backend in (Backend("cuda-emulated", np, emulated, HostDevice()), FUSED):
        rng = np.random.default_rng(11)
        params, state = rng.standard_normal(LAYOUT.size).astype(np.float32), optim.init(config, LAYOUT.size)
        for _ in range(STEPS):
            rows = rng.integers(0, 37, size=12)
            values = rng.standard_normal((rows.size, 9)).astype(np.float32)
            state = optim.update_rows(config, params, {"table": optim.RowGradient(rows, values)}, state, 1e-2,
                                      backend=backend, layout=LAYOUT)
        results.append({"params": params, **state.slots})
    for name, ours in results[0].items():
        np.testing.assert_array_equal(ours, results[1][name], err_msg=name)


def test_a_nonfinite_gradient_is_skipped_and_writes_nothing(emulated: Kernels) -> None:
    config = optim.OptimizerConfig(optim.Adam())
    params = np.ones(LAYOUT.size, np.float32)
    g = np.ones(LAYOUT.size, np.float32)
    g[100] = np.nan
    state = optim.update(config, params, g, optim.init(config, LAYOUT.size), 0.1,
                         backend=Backend("cuda-emulated", np, emulated, HostDevice()), layout=LAYOUT)
    assert (state.step, state.skipped_nonfinite) == (0, 1)
    assert (params == 1).all() and all((slot == 0).all() for slot in state.slots.values())


def test_empty_buffers_launch_nothing(launch: EmulatedLaunch, emulated: Kernels) -> None:
    before = len(launch.launches)
    empty, bounds = np.zeros(0, np.float32), np.array([0, 0, 0], np.int64)
    assert emulated.segment_sumsq(empty, bounds).tolist() == [0.0, 0.0]
    for case in ("sgd-momentum", "adagrad", "rmsprop-all", "adam-all"):
        algorithm = CASES[case][0]
        state = optim.init(optim.OptimizerConfig(algorithm), 0)
        steps.apply(algorithm, emulated, empty, empty, state.slots, bounds, np.ones(2, np.float32), f32(np.inf),
                    0.1, 2)
    assert len(launch.launches) == before


def test_the_wrappers_refuse_buffers_a_kernel_would_misread(launch: EmulatedLaunch, emulated: Kernels) -> None:
    before = len(launch.launches)
    bounds, ones = np.array([0, 10], np.int64), np.ones(1, np.float32)
    p, g, buf = np.zeros(10, np.float32), np.zeros(10, np.float32), np.zeros(10, np.float32)
    sgd = (ones, f32(np.inf), f32(0.1), f32(0), f32(0.9), f32(1), False, False)
    with pytest.raises(TypeError, match="p must be a flat contiguous float32"):
        emulated.fused["sgd"](p.astype(np.float64), g, buf, bounds, *sgd)
    with pytest.raises(TypeError, match="g must be"):
        emulated.fused["sgd"](p, np.zeros(20, np.float32)[::2], buf, bounds, *sgd)
    with pytest.raises(ValueError, match="momentum_buffer holds 0 elements; the bounds reach 10"):
        emulated.fused["sgd"](p, g, buf[:0], bounds, *sgd)
    with pytest.raises(ValueError, match="non-decreasing"):
        emulated.segment_sumsq(g, np.array([0, 6, 4, 10]))
    with pytest.raises(ValueError, match="1 scales for 2 segments"):
        emulated.fused["sgd"](p, g, buf, np.array([0, 5, 10]), *sgd)
    assert len(launch.launches) == before


def test_the_emulator_holds_launches_to_the_kernel_c_signatures(launch: EmulatedLaunch) -> None:
    """The checks that make the emulated runs evidence about CuPy launches are live."""
    x, table = np.zeros(4, np.float32), np.array([0], np.int64)
    good = (x, x, x, table, np.array([4], np.int64), table, np.ones(1, np.float32), f32(1), f32(0.1), f32(0),
            f32(0.9), f32(1), np.int32(0), np.int32(1))
    launch("sgd", (1,), (THREADS,), good)
    with pytest.raises(TypeError, match=r"sgd\(clip\): float needs np.float32, got float"):
        launch("sgd", (1,), (THREADS,), good[:7] + (1.0,) + good[8:])
    with pytest.raises(TypeError, match=r"sgd\(nesterov\): int needs np.int32, got bool"):
        launch("sgd", (1,), (THREADS,), good[:12] + (True,) + good[13:])
    with pytest.raises(TypeError, match=r"sgd\(p\): float\* needs a contiguous float32 array"):
        launch("sgd", (1,), (THREADS,), (x.astype(np.float64),) + good[1:])
    with pytest.raises(TypeError, match="takes 14 arguments"):
        launch("sgd", (1,), (THREADS,), good[:-1])
    with pytest.raises(ValueError, match="blocks >= 1"):
        launch("sgd", (0,), (THREADS,), good)


def test_flush_to_zero_changes_only_values_below_the_float32_normal_range(cuda_library: Path) -> None:
    """CuPy builds with -ftz=true, so float32 subnormals are zero on the GPU. Without FTZ the
    emulated kernels equal the CPU's bit for bit even on subnormals; with it, exactly the
    values the CPU leaves subnormal become zero."""
    tiny = np.finfo(np.float32).tiny
    bounds = _bounds(SIZES)
    n = int(bounds[-1])
    rng = np.random.default_rng(3)
    start, g = rng.standard_normal(n).astype(np.float32), (rng.uniform(-4, 4, n) * tiny).astype(np.float32)
    algorithm = optim.Adam()

    def run(kernels: Kernels):
        params, state = start.copy(), optim.init(optim.OptimizerConfig(algorithm), n)
        steps.apply(algorithm, kernels, params, g, state.slots, bounds, np.ones(len(SIZES), np.float32),
                    f32(np.inf), 1e-3, 1)
        return params, state.slots["exp_avg"]

    cpu_params, cpu_m = run(FUSED.kernels)
    for ftz in (False, True):
        launch = EmulatedLaunch(cuda_library, threads=THREADS, ftz=ftz)
        params, m = run(cupy_kernels.kernels(launch, chunk=CHUNK, threads=THREADS))
        np.testing.assert_array_equal(params, cpu_params)
        subnormal = (cpu_m != 0) & (np.abs(cpu_m) < tiny)
        assert subnormal.sum() > n // 2
        if ftz:
            np.testing.assert_array_equal(m[~subnormal], cpu_m[~subnormal])
            assert (m[subnormal] == 0).all()
        else:
            np.testing.assert_array_equal(m, cpu_m)


def test_warm_up_launches_every_cuda_kernel(cuda_library: Path) -> None:
    launch = EmulatedLaunch(cuda_library, threads=THREADS)
    backend = Backend("cuda-emulated", np, cupy_kernels.kernels(launch, chunk=CHUNK, threads=THREADS), launch.device)
    optim.warm_up(backend)
    assert {kernel for kernel, _, _ in launch.launches} == set(signatures(cupy_kernels.source()))


def test_cuda_source_compiles_for_sm90(tmp_path: Path) -> None:
    """nvcc with the options CuPy hands NVRTC (ours, then its -ftz=true): no error or warning,
    one entry per kernel, no fused multiply-add, IEEE division and square root; then ptxas for
    sm_90 with spill and local-memory warnings."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not found: cannot compile cuda_kernels.cu for sm_90")
    source = tmp_path / cupy_kernels.SOURCE
    source.write_text(cupy_kernels.source())
    options = [*cupy_kernels.NVRTC_OPTIONS, "-ftz=true"]
    ptx, cubin = tmp_path / "kernels.ptx", tmp_path / "kernels.cubin"
    for command in ([nvcc, "-arch=sm_90", *options, "-ptx", str(source), "-o", str(ptx)],
                    [nvcc, "-arch=sm_90", *options, "-cubin", "-Xptxas", "-warn-spills,-warn-lmem-usage",
                     str(source), "-o", str(cubin)]):
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    text = ptx.read_text()
    assert set(re.findall(r"\.entry\s+(\w+)", text)) == set(signatures(cupy_kernels.source()))
    assert not re.search(r"\bfma\.", text), "a multiply-add was fused: the rounding would differ from the CPU"
    assert ".approx" not in text and re.search(r"\bdiv\.rn\.", text) and re.search(r"\bsqrt\.rn\.", text)


def _cupy_with_a_gpu():
    if gpu_problem() is not None:
        pytest.skip(f"the real CUDA kernels cannot run: {gpu_problem()}")
    import cupy

    return cupy


GPU_SIZES = (0, 1, 4095, 4096, 4097, 10_000, 3, 0, 65_537)
"""Around the default CHUNK, with the default THREADS."""


def test_cupy_segment_sumsq_on_a_gpu_matches_the_cpu_kernels() -> None:
    cupy = _cupy_with_a_gpu()
    bounds = _bounds(GPU_SIZES)
    g = np.random.default_rng(0).standard_normal(bounds[-1]).astype(np.float32)
    ours = cupy_kernels.kernels().segment_sumsq(cupy.asarray(g), bounds)
    assert isinstance(ours, np.ndarray)
    np.testing.assert_allclose(ours, FUSED.kernels.segment_sumsq(g, bounds), rtol=SUMSQ_RTOL, atol=0)


@pytest.mark.parametrize("case", KERNEL_CASES)
def test_cupy_kernels_on_a_gpu_equal_the_cpu_kernels(case: str) -> None:
    cupy = _cupy_with_a_gpu()
    algorithm = CASES[case][0]
    bounds = _bounds(GPU_SIZES)
    n = int(bounds[-1])
    rng = np.random.default_rng(len(case))
    start, scales = rng.standard_normal(n).astype(np.float32), rng.uniform(0.25, 1, len(GPU_SIZES)).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(STEPS)]
    results = []
    for kernels, xp in ((cupy_kernels.kernels(), cupy), (FUSED.kernels, np)):
        params, state = xp.array(start), optim.init(optim.OptimizerConfig(algorithm), n, xp=xp)
        for step, g in enumerate(grads, start=1):
            steps.apply(algorithm, kernels, params, xp.array(g), state.slots, bounds, scales, f32(0.9), 1e-2, step)
        arrays = {"params": params, **state.slots}
        results.append({name: cupy.asnumpy(a) if xp is cupy else a for name, a in arrays.items()})
    for name, ours in results[0].items():
        np.testing.assert_array_equal(ours, results[1][name], err_msg=name)


@pytest.mark.parametrize("case", TENSOR_CASES)
def test_whole_tensor_algorithms_on_a_gpu_match_the_cpu(case: str) -> None:
    """CuPy runs the same array operations; its reductions and cuBLAS products sum in another
    order, so the results agree to float32 rounding (bfloat16 rounding for Muon), not bit for bit."""
    cupy = _cupy_with_a_gpu()
    from lrctl.server.backends import cuda_backend

    config = optim.OptimizerConfig(CASES[case][0], optim.GradientOptions(clipnorm=3.0))
    ours, our_state = _run_update(config, cuda_backend(), seed=6, xp=cupy)
    theirs, their_state = _run_update(config, FUSED, seed=6)
    rtol = 2e-3 if isinstance(config.algorithm, optim.Muon) else 4e-6
    errors = {"params": max_rel_error(cupy.asnumpy(ours), theirs)}
    errors |= {name: max_rel_error(cupy.asnumpy(our_state.slots[name]), slot)
               for name, slot in their_state.slots.items() if slot.size}
    print(f"{case}: max rel error cuda vs cpu: {errors}")
    assert max(errors.values()) < rtol, errors


def test_warm_up_builds_every_cuda_kernel_on_a_gpu() -> None:
    _cupy_with_a_gpu()
    from lrctl.server.backends import cuda_backend

    cupy_kernels._raw_kernel.cache_clear()
    cupy_kernels._module.cache_clear()
    optim.warm_up(cuda_backend())
    assert cupy_kernels._module.cache_info().currsize == 1
    assert cupy_kernels._raw_kernel.cache_info().currsize == len(signatures(cupy_kernels.source()))


def test_an_algorithm_without_a_fused_kernel_runs_its_reference_on_a_gpu() -> None:
    """The NumPy reference on CuPy arrays (through __array_ufunc__), where no CUDA kernel exists."""
    cupy = _cupy_with_a_gpu()
    from lrctl.server.backends import cuda_backend

    backend = cuda_backend()
    config = optim.OptimizerConfig(ReferenceOnlyAdam(amsgrad=True), optim.GradientOptions(clipnorm=3.0))
    assert ReferenceOnlyAdam.kernel not in backend.kernels.fused
    ours, our_state = _run_update(config, backend, seed=6, xp=cupy)
    theirs, their_state = _run_update(optim.OptimizerConfig(optim.Adam(amsgrad=True), config.gradient), FUSED, seed=6)
    assert our_state.step == their_state.step == STEPS
    np.testing.assert_allclose(cupy.asnumpy(ours), theirs, rtol=1e-6, atol=1e-7)
    for name, slot in their_state.slots.items():
        np.testing.assert_allclose(cupy.asnumpy(our_state.slots[name]), slot, rtol=1e-6, atol=1e-7, err_msg=name)


def test_the_emulator_models_the_gpu_flush_to_zero(cuda_library: Path) -> None:
    """On subnormal inputs the real build equals the FTZ emulation bit for bit."""
    cupy = _cupy_with_a_gpu()
    bounds = _bounds(SIZES)
    n = int(bounds[-1])
    rng = np.random.default_rng(4)
    start = rng.standard_normal(n).astype(np.float32)
    g = (rng.uniform(-4, 4, n) * np.finfo(np.float32).tiny).astype(np.float32)
    algorithm = optim.Adam()
    results = []
    for kernels, xp in ((cupy_kernels.kernels(), cupy),
                        (cupy_kernels.kernels(EmulatedLaunch(cuda_library, threads=THREADS), chunk=CHUNK,
                                              threads=THREADS), np)):
        params, state = xp.array(start), optim.init(optim.OptimizerConfig(algorithm), n, xp=xp)
        steps.apply(algorithm, kernels, params, xp.array(g), state.slots, bounds, np.ones(len(SIZES), np.float32),
                    f32(np.inf), 1e-3, 1)
        results.append([cupy.asnumpy(a) if xp is cupy else a for a in (params, *state.slots.values())])
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)
