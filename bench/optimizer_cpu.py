"""CPU optimizer step throughput: lrctl's fused kernels vs torch's fused CPU optimizers (foreach
where torch has no fused one; optax jitted by JAX for Lion, which torch lacks).

Both sides run on one flat float32 tensor with the same thread count, in the same process,
alternating repeat by repeat so a noisy neighbour hurts both alike; figures are medians.
Two lrctl figures: `kernel` is the fused update pass alone (what torch's fused step does),
`update` is lrctl.server.optim.update, which first reads the gradient once more to refuse
or skip NaN/inf (and size clip norms) so that a bad gradient never touches the parameters.
The memory bound is the bytes a step must move (e.g. Adam reads p, g, m, v and writes
p, m, v: 28 B/element) at the best measured copy bandwidth (NumPy, torch or a numba
parallel copy) over a buffer of the same footprint.

    .venv/bin/python bench/optimizer_cpu.py            # 1M and 10M elements
    .venv/bin/python bench/optimizer_cpu.py --huge     # also 50M
    .venv/bin/python bench/optimizer_cpu.py --sizes 4000000 --only NAdam Lion --out /tmp/o.json
"""
from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import time
from typing import Callable

import numba
import numpy as np
import torch
from numba import njit, prange

from lrctl.server.backends import cpu_backend
from optimizer_cases import OPTIMIZERS, contenders, random_tensors, summary

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "optimizer_cpu.json"


@njit(parallel=True, cache=True)
def _parallel_copy(dst, src):
    for i in prange(src.size):
        dst[i] = src[i]


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def copy_bandwidth(n_elements: int, repeats: int) -> dict[str, float]:
    """Bytes/s (read + write) of three copies of a buffer with the footprint of 4 n float32."""
    src = np.random.default_rng(0).random(2 * n_elements, dtype=np.float32)
    dst = np.empty_like(src)
    tsrc, tdst = torch.from_numpy(src), torch.from_numpy(dst)
    copies = {"numpy": lambda: np.copyto(dst, src), "torch": lambda: tdst.copy_(tsrc),
              "numba": lambda: _parallel_copy(dst, src)}
    return {name: 2 * src.nbytes / _median_seconds(fn, repeats) for name, fn in copies.items()}


def bench_one(name: str, n: int, backend, repeats: int, bound_bandwidth: float) -> dict[str, object]:
    runs, flavour = contenders(name, n, backend, *random_tensors(n))
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(repeats):  # interleaved so drift and neighbours hit every contender alike
        for label, fn in runs.items():
            times[label].append(_median_seconds(fn, 1))
    return summary(name, n, flavour, times, bound_bandwidth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--huge", action="store_true", help="also 50M elements (needs ~2 GiB)")
    parser.add_argument("--only", nargs="*", choices=list(OPTIMIZERS), default=list(OPTIMIZERS))
    parser.add_argument("--sizes", type=int, nargs="*", help="elements per buffer (instead of 1M and 10M)")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    backend = cpu_backend(args.threads)
    sizes = args.sizes or [1_000_000, 10_000_000] + ([50_000_000] if args.huge else [])
    rows, bandwidths = [], {}
    print(f"threads={args.threads} torch={torch.__version__} numba={numba.__version__} repeats={args.repeats}")
    header = (f"{'optimizer':<13}{'elements':>11}  {'peer':>9} {'G el/s':>7}  {'kernel':>7} {'update':>7}"
              f"  {'kern/peer':>10} {'upd/peer':>9}  {'bound':>7} {'kern/bound':>10} {'upd/bound':>9}")
    for n in sizes:
        bandwidths[n] = copy_bandwidth(n, args.repeats)
        best = max(bandwidths[n].values())
        print(f"\n{n:,} elements: copy bandwidth " + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in bandwidths[n].items())
              + " GB/s")
        print(header)
        for name in args.only:
            row = bench_one(name, n, backend, args.repeats, best)
            rows.append(row)
            r = row["elements_per_s"]
            print(f"{name:<13}{n:>11,}  {row['torch_flavour']:>9} {r['torch'] / 1e9:>7.2f}  {r['kernel'] / 1e9:>7.2f}"
                  f" {r['update'] / 1e9:>7.2f}  {row['kernel_vs_torch']:>9.2f}x {row['update_vs_torch']:>8.2f}x"
                  f"  {row['bound_elements_per_s'] / 1e9:>7.2f} {row['kernel_vs_bound']:>9.2f}x"
                  f" {row['update_vs_bound']:>8.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                    "torch": torch.__version__, "numba": numba.__version__, "numpy": np.__version__,
                    "threading_layer": numba.threading_layer()},
        "repeats": args.repeats, "copy_bandwidth_bytes_per_s": {str(n): b for n, b in bandwidths.items()},
        "results": rows,
    }, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
