"""Remote optimizer Step end to end vs its peers, side by side in one run, as ratios.

For each size (default 1M and 10M float32 parameters) and wire dtype (float32, bfloat16),
against one real `lrctl serve` process on loopback:
  - step:  the SDK's job.step(t, grads) on an Adam job: gradients in, all parameters back;
  - echo:  Diagnostics.EchoStream of the same bytes in the same chunks (the bidirectional
           stream transfer bound of the same server stack; DESIGN §12 target: step >= 0.8x);
  - torch: a local torch.optim.Adam(fused=True) step on the same number of parameters;
  - kernel: lrctl's own optimizer update in this process (what the server spends computing).
Medians of --repeats runs; echo and step runs alternate, so a machine whose speed drifts
(a shared host) slows both alike, and step/echo is the median of the per-pair ratios.
Results go to bench/results/remote_step.json.

The bench re-runs itself (and so its server) under GLIBC_TUNABLES=glibc.malloc.hugetlb=1
unless --no-hugetlb: every 1 MiB chunk is a fresh allocation, which glibc otherwise serves
with mmap and page faults (measured here: building 40 chunk messages of 1 MiB takes 57 ms
without, 9.5 ms with). The Docker images set it too.

    python bench/remote_step.py [--sizes 1e6 1e7] [--repeats 10] [--no-hugetlb]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time
from typing import Callable

import grpc
import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import lrctl  # noqa: E402
from lrctl import wire  # noqa: E402
from lrctl.v1 import controller_pb2, controller_pb2_grpc  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402

DTYPES = ("float32", "bfloat16")
HUGETLB = "glibc.malloc.hugetlb=1"


def median_seconds(run, repeats: int) -> float:
    run()  # warm-up: first-touch page faults, kernel compilation
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def paired_seconds(first: Callable[[], object], second: Callable[[], object],
                   repeats: int) -> tuple[float, float, float]:
    """Medians of `first()` and `second()` run alternately, and the median of their per-pair
    ratio first/second."""
    first()  # warm-up: first-touch page faults, kernel compilation
    second()
    pairs = []
    for _ in range(repeats):
        started = time.perf_counter()
        first()
        middle = time.perf_counter()
        second()
        pairs.append((middle - started, time.perf_counter() - middle))
    return (statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs),
            statistics.median(a / b for a, b in pairs))


def echo_run(channel: grpc.Channel, payloads: list[bytes]) -> Callable[[], None]:
    """One EchoStream call carrying `payloads` both ways (prebuilt: the pure transfer)."""
    stub = controller_pb2_grpc.DiagnosticsStub(channel)

    def run() -> None:
        for _ in stub.EchoStream(controller_pb2.EchoMessage(payload=p) for p in payloads):
            pass

    return run


def step_run(client: lrctl.Client, elements: int, dtype: str, chunk_bytes: int) -> Callable[[], object]:
    """One job.step on a fresh Adam job of `elements` parameters, each call the next step."""
    rng = np.random.default_rng(0)
    job = client.create_job(f"bench-{elements}-{dtype}", {"lr": 1e-3}, optimizer={"adam": {}})
    job.init_params({"params": rng.standard_normal(elements).astype(np.float32)})
    grads = {"params": rng.standard_normal(elements).astype(np.float32)}
    steps = iter(range(10**9))
    return lambda: job.step(next(steps), grads, wire_dtype=dtype, chunk_bytes=chunk_bytes)


def torch_seconds(elements: int, repeats: int) -> float:
    import torch

    param = torch.nn.Parameter(torch.randn(elements))
    param.grad = torch.randn(elements)
    optimizer = torch.optim.Adam([param], lr=1e-3, fused=True)
    return median_seconds(optimizer.step, repeats)


def kernel_seconds(elements: int, repeats: int) -> float:
    from lrctl.server import optim
    from lrctl.server.backends import cpu_backend

    backend, config = cpu_backend(), optim.OptimizerConfig(optim.Adam())
    params, grads = np.zeros(elements, np.float32), np.ones(elements, np.float32)
    state = [optim.init(config, elements)]

    def run() -> None:
        state[0] = optim.update(config, params, grads, state[0], 1e-3, backend=backend)

    return median_seconds(run, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--chunk-bytes", type=int, default=wire.DEFAULT_CHUNK_BYTES)
    parser.add_argument("--no-hugetlb", action="store_true", help="keep glibc's default malloc tunables")
    args = parser.parse_args()
    if not args.no_hugetlb and HUGETLB not in os.environ.get("GLIBC_TUNABLES", ""):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GLIBC_TUNABLES": HUGETLB})
    rows = []
    with tempfile.TemporaryDirectory() as data_dir:
        server = ServerProcess(pathlib.Path(data_dir)).start()
        try:
            with lrctl.Client(server.address, timeout=120) as client:
                for elements in (int(size) for size in args.sizes):
                    torch_s, kernel_s = torch_seconds(elements, args.repeats), kernel_seconds(elements, args.repeats)
                    for dtype in DTYPES:
                        values = np.random.default_rng(1).standard_normal(elements).astype(np.float32)
                        payloads = [wire.encode(values[a:b], dtype)
                                    for a, b in wire.chunk_spans(elements, dtype, args.chunk_bytes)]
                        echo_s, step_s, ratio = paired_seconds(
                            echo_run(client.channel, payloads),
                            step_run(client, elements, dtype, args.chunk_bytes), args.repeats)
                        wire_bytes = 2 * sum(len(p) for p in payloads)
                        rows.append({
                            "elements": elements, "wire_dtype": dtype, "chunk_bytes": args.chunk_bytes,
                            "wire_bytes_per_step": wire_bytes, "step_s": step_s, "echo_s": echo_s,
                            "torch_fused_adam_s": torch_s, "lrctl_kernel_s": kernel_s,
                            "step_vs_echo": ratio, "step_over_torch": step_s / torch_s,
                            "step_gb_per_s": wire_bytes / step_s / 1e9, "echo_gb_per_s": wire_bytes / echo_s / 1e9,
                        })
        finally:
            server.kill()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')!r}, chunks of {args.chunk_bytes} bytes")
    print(f"{'elements':>10} {'wire':>9} {'MB moved':>9} {'step ms':>8} {'echo ms':>8} {'step/echo':>10}"
          f" {'step GB/s':>10} {'torch ms':>9} {'step/torch':>11} {'kernel ms':>10}")
    for r in rows:
        print(f"{r['elements']:>10} {r['wire_dtype']:>9} {r['wire_bytes_per_step'] / 1e6:>9.1f} "
              f"{r['step_s'] * 1e3:>8.1f} {r['echo_s'] * 1e3:>8.1f} {r['step_vs_echo']:>9.2f}x "
              f"{r['step_gb_per_s']:>10.2f} {r['torch_fused_adam_s'] * 1e3:>9.2f} {r['step_over_torch']:>10.1f}x "
              f"{r['lrctl_kernel_s'] * 1e3:>10.2f}")
    print("step/echo: echo time / step time for the same bytes (>= 0.8 is the target); "
          "step/torch: how many local fused torch Adam steps one remote step costs")
    out = REPO / "bench" / "results" / "remote_step.json"
    out.write_text(json.dumps({"rows": rows, "cores": os.cpu_count(), "repeats": args.repeats,
                               "glibc_tunables": os.environ.get("GLIBC_TUNABLES", "")}, indent=2))
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
