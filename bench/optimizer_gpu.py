"""GPU optimizer step throughput: lrctl's fused CUDA kernels (CuPy) vs torch's fused CUDA optimizers.

Both sides run on one flat float32 tensor on the same GPU, in the same process, alternating
repeat by repeat; each figure is the median of CUDA-event timings. Two lrctl figures, as in
optimizer_cpu.py: `kernel` is the fused update launch alone (what torch's fused step does),
`update` is lrctl.server.optim.update, which first reads the gradient once more to refuse or
skip NaN/inf (and size clip norms) and waits for that verdict on the host. The memory bound
is the bytes a step must move (e.g. Adam reads p, g, m, v and writes p, m, v: 28 B/element)
at the best measured device-to-device copy bandwidth (CuPy or torch) over a buffer of the
same footprint. Needs an NVIDIA GPU, CuPy and a CUDA build of torch; exits saying which is
missing otherwise.

    .venv/bin/python bench/optimizer_gpu.py                     # 1M, 10M, 50M, 100M elements
    .venv/bin/python bench/optimizer_gpu.py --sizes 1000000 --only Adam
"""
from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
from typing import Callable

import numpy as np
import torch

from lrctl.server.backends import Backend, cuda_backend, cupy_kernels
from optimizer_cases import TORCH_PEERED, contenders, random_tensors, summary

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "optimizer_gpu.json"
SIZES = (1_000_000, 10_000_000, 50_000_000, 100_000_000)


def _backend_or_exit() -> Backend:
    """lrctl's CUDA backend, once CuPy and torch both see a GPU; otherwise exit with the reason."""
    try:
        backend = cuda_backend()
    except RuntimeError as error:
        sys.exit(f"optimizer_gpu: needs CuPy and an NVIDIA GPU: {error}")
    if not torch.cuda.is_available():
        sys.exit(f"optimizer_gpu: torch {torch.__version__} does not see the GPU (a CPU-only build?)")
    return backend


def _cupy_seconds(cupy, fn: Callable[[], object]) -> float:
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    fn()
    end.record()
    end.synchronize()
    return cupy.cuda.get_elapsed_time(start, end) / 1e3


def _torch_seconds(fn: Callable[[], object]) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


def _median(timer: Callable[[Callable[[], object]], float], fn: Callable[[], object], repeats: int) -> float:
    fn()
    return statistics.median(timer(fn) for _ in range(repeats))


def copy_bandwidth(cupy, n_elements: int, repeats: int) -> dict[str, float]:
    """Bytes/s (read + write) of device-to-device copies of a buffer with the footprint of 4 n float32."""
    src = cupy.arange(2 * n_elements, dtype=cupy.float32)
    dst = cupy.empty_like(src)
    tsrc = torch.arange(2 * n_elements, dtype=torch.float32, device="cuda")
    tdst = torch.empty_like(tsrc)
    cupy_copy = _median(lambda f: _cupy_seconds(cupy, f), lambda: cupy.copyto(dst, src), repeats)
    return {"cupy": 2 * src.nbytes / cupy_copy,
            "torch": 2 * src.nbytes / _median(_torch_seconds, lambda: tdst.copy_(tsrc), repeats)}


def _free(cupy) -> None:
    """Hand the pools' cached blocks back, so the next size starts with the whole GPU."""
    cupy.get_default_memory_pool().free_all_blocks()
    torch.cuda.empty_cache()


def bench_one(cupy, name: str, n: int, backend: Backend, repeats: int, bound_bandwidth: float) -> dict[str, object]:
    runs, flavour = contenders(name, n, backend, *random_tensors(n, "cuda"))

    def on_cupy(fn: Callable[[], object]) -> float:
        return _cupy_seconds(cupy, fn)

    timers = {"kernel": (on_cupy, runs["kernel"]), "update": (on_cupy, runs["update"]),
              "torch": (_torch_seconds, runs["torch"])}
    for timer, fn in timers.values():
        timer(fn)
    times: dict[str, list[float]] = {label: [] for label in timers}
    for _ in range(repeats):  # interleaved so drift and clock changes hit every contender alike
        for label, (timer, fn) in timers.items():
            times[label].append(timer(fn))
    return summary(name, n, flavour, times, bound_bandwidth)


def _device_name(cupy) -> str:
    name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES), help="elements per buffer")
    parser.add_argument("--only", nargs="*", choices=TORCH_PEERED, default=TORCH_PEERED,
                        help="optimizers with a torch peer (optax, Lion's peer, runs on the CPU here)")
    args = parser.parse_args()
    backend = _backend_or_exit()
    cupy = backend.xp
    rows, bandwidths = [], {}
    print(f"{_device_name(cupy)} cupy={cupy.__version__} torch={torch.__version__} repeats={args.repeats} "
          f"threads/block={cupy_kernels.THREADS} chunk={cupy_kernels.CHUNK}")
    header = (f"{'optimizer':<13}{'elements':>12}  {'torch':>8} {'G el/s':>7}  {'kernel':>7} {'update':>7}"
              f"  {'kern/torch':>10} {'upd/torch':>9}  {'bound':>7} {'kern/bound':>10} {'upd/bound':>9}")
    for n in args.sizes:
        bandwidths[n] = copy_bandwidth(cupy, n, args.repeats)
        _free(cupy)
        best = max(bandwidths[n].values())
        print(f"\n{n:,} elements: copy bandwidth "
              + ", ".join(f"{k} {v / 1e9:.0f}" for k, v in bandwidths[n].items()) + " GB/s")
        print(header)
        for name in args.only:
            row = bench_one(cupy, name, n, backend, args.repeats, best)
            _free(cupy)
            rows.append(row)
            r = row["elements_per_s"]
            print(f"{name:<13}{n:>12,}  {row['torch_flavour']:>8} {r['torch'] / 1e9:>7.1f}  {r['kernel'] / 1e9:>7.1f}"
                  f" {r['update'] / 1e9:>7.1f}  {row['kernel_vs_torch']:>9.2f}x {row['update_vs_torch']:>8.2f}x"
                  f"  {row['bound_elements_per_s'] / 1e9:>7.1f} {row['kernel_vs_bound']:>9.2f}x"
                  f" {row['update_vs_bound']:>8.2f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": {"gpu": _device_name(cupy), "cupy": cupy.__version__, "torch": torch.__version__,
                    "torch_cuda": torch.version.cuda, "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
                    "numpy": np.__version__},
        "kernel_config": {"threads_per_block": cupy_kernels.THREADS, "chunk": cupy_kernels.CHUNK},
        "repeats": args.repeats, "copy_bandwidth_bytes_per_s": {str(n): b for n, b in bandwidths.items()},
        "results": rows,
    }, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
