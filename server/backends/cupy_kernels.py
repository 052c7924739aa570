"""Fused CUDA kernels for CuPy buffers: the Kernels contract, one kernel launch per step.

Each wrapper is registered under the .cu kernel's name, which is the `kernel` of the
algorithms it serves, and takes exactly those algorithms' `reference` arguments.

The kernels are cuda_kernels.cu (one block per chunk of `chunk_table`, cpu_kernels.py's
float32 arithmetic in the same order); this module only marshals. It builds each layout's
chunk table once and keeps it on the device, moves the per-segment scales over, and passes
every scalar as a NumPy scalar of the kernel's exact C type: CuPy passes a NumPy scalar as
its own dtype but a Python float as a double and a bool as one byte, which a kernel taking
float or int would misread without any error.

Launching and memory go through two seams, `Launch` and `Device`, so the same wrappers also
drive the .cu compiled by g++ on NumPy arrays (tests/backends). Importing this module does
not import CuPy; the first launch compiles the module with NVRTC (cached by CuPy on disk).
"""
from __future__ import annotations

import functools
from importlib import resources
from typing import Any, Protocol

import numpy as np

from lrctl.server.backends.chunk_table import chunk_table
from lrctl.server.backends.kernels import Array, Kernels
from lrctl.server.backends.memory import Device

SOURCE = "cuda_kernels.cu"

THREADS = 256
"""Threads per block: 8 warps. An H200 SM holds 2,048 threads and every kernel here needs
under 32 registers a thread (ptxas, sm_90), so 8 such blocks fit per SM (1,056 on its 132
SMs): enough loads in flight to cover DRAM latency, and small blocks keep the last, partly
filled wave cheap."""

CHUNK = 4096
"""Elements per block: 16 per thread. 10M elements make 2,442 blocks, about 2.3 waves of
the 1,056 an H200 runs at once; 1M make 245, where launch latency dominates anyway. Smaller
chunks would mostly grow the chunk table (24 bytes a chunk, kept on the device per layout)."""

MAX_THREADS = 1024
"""CUDA's limit per block, and the size of segment_sumsq's shared array (LRCTL_MAX_THREADS)."""

NVRTC_OPTIONS = ("-std=c++17", "--fmad=false")
"""--fmad=false stops the compiler fusing a * b + c into one multiply-add, which would round
differently from the CPU kernels. CuPy itself appends -ftz=true after these (see the .cu)."""

TABLES_CACHED = 256
"""Distinct bounds (and scale vectors) kept on the device: a job's layout is one table, and
sparse row updates make one per row count."""


class Launch(Protocol):
    """Runs kernel `kernel` of cuda_kernels.cu on `grid` blocks of `block` threads, with
    arrays of `device` and NumPy scalars as arguments."""

    name: str
    device: Device

    def __call__(self, kernel: str, grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None: ...


def source() -> str:
    """The CUDA C++ text of the kernels (package data, so it ships in the wheel)."""
    return resources.files(__package__).joinpath(SOURCE).read_text()


class CuPyDevice:
    """CuPy arrays on the current device.

    A host-to-device copy waits for its stream: CuPy's copy is asynchronous, may read the host
    array after the call returns, and ours are temporaries. (asarray's blocking=True says the
    same but raises UnboundLocalError in CuPy 13.5, cupy/cupy#9271.)
    """

    @property
    def array_type(self) -> type:
        return _cupy().ndarray

    def to_device(self, a: np.ndarray) -> Array:
        cupy = _cupy()
        on_device = cupy.asarray(a)
        cupy.cuda.get_current_stream().synchronize()
        return on_device

    def zeros(self, n: int, dtype: type) -> Array:
        return _cupy().zeros(n, dtype=dtype)

    def to_host(self, a: Array) -> np.ndarray:
        return _cupy().asnumpy(a)

    def host_buffer(self, a: Array) -> np.ndarray:
        """Pinned, so the copy to the device runs at full PCIe speed without a staging copy."""
        import cupyx

        return cupyx.empty_pinned(a.shape, dtype=a.dtype)

    def copy_in(self, a: Array, host: np.ndarray) -> None:
        a.set(host)
        _cupy().cuda.get_current_stream().synchronize()


class CuPyLaunch:
    """Launches through one RawModule of the .cu, compiled on first use, on the current stream."""

    name = "cupy"

    def __init__(self) -> None:
        self.device = CuPyDevice()

    def __call__(self, kernel: str, grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None:
        _raw_kernel(kernel)(grid, block, args)


@functools.cache
def _cupy():
    import cupy

    return cupy


@functools.cache
def _module():
    return _cupy().RawModule(code=source(), options=NVRTC_OPTIONS)


@functools.cache
def _raw_kernel(name: str):
    return _module().get_function(name)


def _flag(value: object) -> np.int32:
    """A boolean option as the kernels' int (a bool would go to CuPy as one byte)."""
    return np.int32(bool(value))


def _check(device: Device, end: int, **arrays: tuple[Array, bool]) -> None:
    """Refuse buffers a kernel would misread: each must be a flat contiguous float32 array of
    `device`, and each that the options use (flag True) must reach `end`, the last bound. A
    CUDA kernel reading past an array corrupts memory silently, where numba's slices truncate."""
    for name, (a, used) in arrays.items():
        if not (isinstance(a, device.array_type) and a.dtype == np.float32 and a.ndim == 1
                and a.flags.c_contiguous):
            raise TypeError(f"{name} must be a flat contiguous float32 {device.array_type.__name__}, "
                            f"got {type(a).__name__} {getattr(a, 'dtype', None)} {getattr(a, 'shape', None)}")
        if used and a.shape[0] < end:
            raise ValueError(f"{name} holds {a.shape[0]} elements; the bounds reach {end}")


def kernels(launch: Launch | None = None, *, chunk: int = CHUNK, threads: int = THREADS) -> Kernels:
    """The Kernels contract over `launch` (default: CuPy); bounds and scales are host arrays.

    `chunk` and `threads` are the block's elements and threads (tests shrink them so small
    buffers still span many blocks). Chunk tables and scales are kept on the device this
    instance first ran on, so one instance serves one device.
    """
    if launch is None:
        launch = CuPyLaunch()
    if not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be in [1, {MAX_THREADS}], got {threads}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    device = launch.device
    f32 = np.float32

    @functools.lru_cache(maxsize=TABLES_CACHED)
    def table(key: bytes) -> tuple[int, int, Array, Array, Array]:
        bounds = np.frombuffer(key, np.int64).copy()
        if bounds.size == 0 or bounds[0] < 0 or np.any(np.diff(bounds) < 0):
            raise ValueError(f"bounds must be non-negative and non-decreasing, got {bounds}")
        starts, stops, segs = chunk_table(bounds, chunk)
        return (starts.size, int(bounds[-1]),
                device.to_device(starts), device.to_device(stops), device.to_device(segs))

    def plan(bounds: np.ndarray) -> tuple[int, int, Array, Array, Array]:
        """(chunks, last bound, device starts, stops, segs) for `bounds`."""
        return table(np.ascontiguousarray(bounds, dtype=np.int64).tobytes())

    @functools.lru_cache(maxsize=TABLES_CACHED)
    def scales_table(key: bytes) -> Array:
        return device.to_device(np.frombuffer(key, np.float32).copy())

    def device_scales(scales: np.ndarray) -> Array:
        """`scales` on the device; unchanged scales (all ones without clip-by-norm) are not
        copied again, which would cost a synchronous transfer per step."""
        return scales_table(np.ascontiguousarray(scales, dtype=np.float32).tobytes())

    def launch_step(name: str, bounds: np.ndarray, scales: np.ndarray, buffers: dict[str, tuple[Array, bool]],
                    scalars: tuple[Any, ...]) -> None:
        """Check `buffers` (name: (array, used by these options), in the kernel's argument
        order), then launch one block per chunk."""
        n, end, starts, stops, segs = plan(bounds)
        _check(device, end, **buffers)
        if len(scales) < len(bounds) - 1:
            raise ValueError(f"{len(scales)} scales for {len(bounds) - 1} segments")
        if n:  # CuPy launches max(1, grid) blocks: an empty grid must not launch at all
            arrays = tuple(a for a, _ in buffers.values())
            launch(name, (n,), (threads,), (*arrays, starts, stops, segs, device_scales(scales), *scalars))

    def segment_sumsq(g, bounds) -> np.ndarray:
        n, end, starts, stops, segs = plan(bounds)
        _check(device, end, g=(g, True))
        out = device.zeros(len(bounds) - 1, np.float64)
        if n:
            launch("segment_sumsq", (n,), (threads,), (g, starts, stops, segs, out))
        return device.to_host(out)

    def sgd(p, g, buf, bounds, scales, clip, lr, weight_decay, momentum, one_minus_dampening, nesterov,
            first_step) -> None:
        launch_step("sgd", bounds, scales,
                    {"p": (p, True), "g": (g, True), "momentum_buffer": (buf, f32(momentum) != 0)},
                    (f32(clip), f32(lr), f32(weight_decay), f32(momentum), f32(one_minus_dampening),
                     _flag(nesterov), _flag(first_step)))

    def adagrad(p, g, state_sum, bounds, scales, clip, clr, weight_decay, eps) -> None:
        launch_step("adagrad", bounds, scales, {"p": (p, True), "g": (g, True), "sum": (state_sum, True)},
                    (f32(clip), f32(clr), f32(weight_decay), f32(eps)))

    def rmsprop(p, g, square_avg, grad_avg, buf, bounds, scales, clip, lr, alpha, one_minus_alpha, eps,
                weight_decay, momentum, centered) -> None:
        launch_step("rmsprop", bounds, scales,
                    {"p": (p, True), "g": (g, True), "square_avg": (square_avg, True),
                     "grad_avg": (grad_avg, bool(centered)), "momentum_buffer": (buf, f32(momentum) != 0)},
                    (f32(clip), f32(lr), f32(alpha), f32(one_minus_alpha), f32(eps), f32(weight_decay),
                     f32(momentum), _flag(centered)))

    def adam(p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, bounds, scales, clip, step_size, one_minus_beta1,
             beta2, one_minus_beta2, bias_correction2_sqrt, eps, weight_decay, param_decay, amsgrad) -> None:
        launch_step("adam", bounds, scales,
                    {"p": (p, True), "g": (g, True), "exp_avg": (exp_avg, True), "exp_avg_sq": (exp_avg_sq, True),
                     "max_exp_avg_sq": (max_exp_avg_sq, bool(amsgrad))},
                    (f32(clip), f32(step_size), f32(one_minus_beta1), f32(beta2), f32(one_minus_beta2),
                     f32(bias_correction2_sqrt), f32(eps), f32(weight_decay), f32(param_decay), _flag(amsgrad)))

    def nadam(p, g, exp_avg, exp_avg_sq, bounds, scales, clip, one_minus_beta1, beta2, one_minus_beta2,
              bias_correction2, eps, weight_decay, param_decay, grad_step, avg_step) -> None:
        launch_step("nadam", bounds, scales,
                    {"p": (p, True), "g": (g, True), "exp_avg": (exp_avg, True), "exp_avg_sq": (exp_avg_sq, True)},
                    (f32(clip), f32(one_minus_beta1), f32(beta2), f32(one_minus_beta2), f32(bias_correction2),
                     f32(eps), f32(weight_decay), f32(param_decay), f32(grad_step), f32(avg_step)))

    def radam(p, g, exp_avg, exp_avg_sq, bounds, scales, clip, one_minus_beta1, beta2, one_minus_beta2,
              bias_correction1, lr, bias_correction2_sqrt, eps, rect, weight_decay, param_decay, rectified) -> None:
        launch_step("radam", bounds, scales,
                    {"p": (p, True), "g": (g, True), "exp_avg": (exp_avg, True), "exp_avg_sq": (exp_avg_sq, True)},
                    (f32(clip), f32(one_minus_beta1), f32(beta2), f32(one_minus_beta2), f32(bias_correction1),
                     f32(lr), f32(bias_correction2_sqrt), f32(eps), f32(rect), f32(weight_decay), f32(param_decay),
                     _flag(rectified)))

    def adamax(p, g, exp_avg, exp_inf, bounds, scales, clip, one_minus_beta1, beta2, eps, weight_decay,
               clr) -> None:
        launch_step("adamax", bounds, scales,
                    {"p": (p, True), "g": (g, True), "exp_avg": (exp_avg, True), "exp_inf": (exp_inf, True)},
                    (f32(clip), f32(one_minus_beta1), f32(beta2), f32(eps), f32(weight_decay), f32(clr)))

    def adadelta(p, g, square_avg, acc_delta, bounds, scales, clip, lr, rho, one_minus_rho, eps,
                 weight_decay) -> None:
        launch_step("adadelta", bounds, scales,
                    {"p": (p, True), "g": (g, True), "square_avg": (square_avg, True),
                     "acc_delta": (acc_delta, True)},
                    (f32(clip), f32(lr), f32(rho), f32(one_minus_rho), f32(eps), f32(weight_decay)))

    def lion(p, g, exp_avg, bounds, scales, clip, lr, one_minus_b1, b1, one_minus_b2, b2, weight_decay) -> None:
        launch_step("lion", bounds, scales, {"p": (p, True), "g": (g, True), "exp_avg": (exp_avg, True)},
                    (f32(clip), f32(lr), f32(one_minus_b1), f32(b1), f32(one_minus_b2), f32(b2),
                     f32(weight_decay)))

    def lamb(p, g, exp_avg, exp_avg_sq, bounds, scales, clip, one_minus_b1, b1, one_minus_b2, b2, bias_correction1,
             bias_correction2, eps, weight_decay, lr) -> None:
        """Two launches: the moments and each tensor's norms (summed on the device), then the
        step; the norms never leave the device."""
        buffers = {"p": (p, True), "g": (g, True), "exp_avg": (exp_avg, True), "exp_avg_sq": (exp_avg_sq, True)}
        update = (f32(bias_correction1), f32(bias_correction2), f32(eps), f32(weight_decay))
        sums = device.zeros(2 * (len(bounds) - 1), np.float64)
        launch_step("lamb", bounds, scales, buffers,
                    (f32(clip), f32(one_minus_b1), f32(b1), f32(one_minus_b2), f32(b2), *update, sums))
        del buffers["g"]
        launch_step("lamb_apply", bounds, scales, buffers, (*update, f32(lr), sums))

    return Kernels(f"cuda-fused[{launch.name}]", segment_sumsq,
                   {"sgd": sgd, "adagrad": adagrad, "rmsprop": rmsprop, "adam": adam, "nadam": nadam,
                    "radam": radam, "adamax": adamax, "adadelta": adadelta, "lion": lion, "lamb": lamb})
