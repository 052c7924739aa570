"""Remote optimizer Step end to end vs its peers, side by side in one run, as ratios.

For each size (default 1M and 10M float32 parameters) and wire dtype (float32, bfloat16),
against one real `lrctl serve` process on loopback:
  - step:  the SDK's job.step(t, grads) on an Adam job: gradients in, all parameters back;
  - echo:  Diagnostics.EchoStream of the same bytes in the same chunks (the bidirectional
           stream transfer bound of the same server stack; DESIGN §12 target: step >= 0.8x);
  - torch: a local torch.optim.Adam(fused=True) step on the same number of parameters;
  - kernel: lrctl's own optimizer update in this process (what the server spends computing);
  - up, down: bench/bare_grpc.py moving the same bytes one way each, raw (no protobuf, no
           work): up + kernel + down is the floor, the least a step can take on this stack,
           since its reply cannot start before every gradient has arrived.
Medians of --repeats rounds; the runs alternate within a round, so a machine whose speed
drifts (a shared host) slows them alike, and the ratios are medians of per-round ratios.
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
from lrctl.protocol import wire  # noqa: E402
from lrctl.v1 import controller_pb2, controller_pb2_grpc  # noqa: E402
from bench.bare_grpc import BareServer  # noqa: E402
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


def interleaved_seconds(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each run, `repeats` rounds of all runs in turn (after one warm-up round:
    first-touch page faults, kernel compilation)."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return times


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
    bare = BareServer()
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
                        one_way = sum(len(p) for p in payloads)
                        times = interleaved_seconds({
                            "echo": echo_run(client.channel, payloads),
                            "step": step_run(client, elements, dtype, args.chunk_bytes),
                            "up": lambda: bare.up(payloads),
                            "down": lambda: bare.down(one_way, args.chunk_bytes)}, args.repeats)
                        step = times["step"]
                        floor = [up + down + kernel_s for up, down in zip(times["up"], times["down"])]
                        step_s = statistics.median(step)
                        rows.append({
                            "elements": elements, "wire_dtype": dtype, "chunk_bytes": args.chunk_bytes,
                            "wire_bytes_per_step": 2 * one_way, "step_s": step_s,
                            "echo_s": statistics.median(times["echo"]),
                            "bare_up_s": statistics.median(times["up"]), "bare_down_s": statistics.median(times["down"]),
                            "floor_s": statistics.median(floor),
                            "torch_fused_adam_s": torch_s, "lrctl_kernel_s": kernel_s,
                            "step_vs_echo": statistics.median(e / s for e, s in zip(times["echo"], step)),
                            "step_vs_floor": statistics.median(f / s for f, s in zip(floor, step)),
                            "step_over_torch": step_s / torch_s, "step_gb_per_s": 2 * one_way / step_s / 1e9,
                        })
        finally:
            server.kill()
            bare.close()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')!r}, chunks of {args.chunk_bytes} bytes")
    print(f"{'elements':>10} {'wire':>9} {'MB moved':>9} {'step ms':>8} {'echo ms':>8} {'step/echo':>10}"
          f" {'up+down ms':>11} {'floor ms':>9} {'step/floor':>11} {'step GB/s':>10} {'torch ms':>9} {'kernel ms':>10}")
    for r in rows:
        print(f"{r['elements']:>10} {r['wire_dtype']:>9} {r['wire_bytes_per_step'] / 1e6:>9.1f} "
              f"{r['step_s'] * 1e3:>8.1f} {r['echo_s'] * 1e3:>8.1f} {r['step_vs_echo']:>9.2f}x "
              f"{(r['bare_up_s'] + r['bare_down_s']) * 1e3:>11.1f} {r['floor_s'] * 1e3:>9.1f} {r['step_vs_floor']:>10.2f}x "
              f"{r['step_gb_per_s']:>10.2f} {r['torch_fused_adam_s'] * 1e3:>9.2f} {r['lrctl_kernel_s'] * 1e3:>10.2f}")
    print("step/echo: echo time / step time for the same bytes (>= 0.8 is the target); "
          "floor: bare gRPC up + lrctl's kernel + bare gRPC down, the least a step can take on this stack; "
          "step/floor: floor time / step time")
    out = REPO / "bench" / "results" / "remote_step.json"
    out.write_text(json.dumps({"rows": rows, "cores": os.cpu_count(), "repeats": args.repeats,
                               "glibc_tunables": os.environ.get("GLIBC_TUNABLES", "")}, indent=2))
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
