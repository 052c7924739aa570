"""Data-parallel steps through one lrctl server vs the same bytes through its echo, and vs DDP.

For W = 1, 2, 4 worker processes and 1M and 10M float32 parameters, in one run:
  - lrctl: one job of W workers (Adam); each rank sends its gradient and gets all parameters
    back (reply "all"), W calls per step, the server reduces and steps once;
  - echo: the same W processes each stream the same bytes up and down through
    Diagnostics.EchoStream on the same server, in the same 1 MiB chunks: the transport bound;
  - DDP: the same W processes all-reduce a gradient of the same size with torch.distributed
    (gloo on CPU), what a user would run instead of a parameter server.
Figures: steps/s (the slowest rank's), gradient GB/s into the server (W x 4 x params bytes per
step), and lrctl / echo. Runs alternate per round; figures are medians over rounds. Results go
to bench/results/data_parallel.json.

    python bench/data_parallel.py [--rounds 3] [--steps 5] [--sizes 1000000 10000000] [--workers 1 2 4]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHUNK = 1 << 20


def worker(mode: str, rank: int, world: int, size: int, steps: int, where: str) -> float:
    """One process's part of a run; returns its seconds for `steps` steps (after one warm-up)."""
    if mode == "lrctl":
        import lrctl

        job = lrctl.Client(where, timeout=300).job(f"dp-{world}-{size}")
        grads = {"w": np.random.default_rng(rank).standard_normal(size, dtype=np.float32)}
        server_step = job.pull(names=["w"]).step

        def one(step: int) -> None:
            job.step(step, grads, rank=rank)
        run = lambda step: one(server_step + step)  # noqa: E731
    elif mode == "echo":
        import grpc

        from lrctl.v1 import controller_pb2, controller_pb2_grpc

        channel = grpc.insecure_channel(where, options=[("grpc.max_receive_message_length", 64 << 20),
                                                        ("grpc.max_send_message_length", 64 << 20)])
        stub = controller_pb2_grpc.DiagnosticsStub(channel)
        payload = np.random.default_rng(rank).standard_normal(size, dtype=np.float32).tobytes()
        messages = [controller_pb2.EchoMessage(payload=payload[start:start + CHUNK])
                    for start in range(0, len(payload), CHUNK)]

        def run(step: int) -> None:
            for _ in stub.EchoStream(iter(messages), timeout=300):
                pass
    else:
        import torch
        import torch.distributed as dist

        torch.set_num_threads(1)
        dist.init_process_group("gloo", init_method=f"file://{where}", rank=rank, world_size=world)
        tensor = torch.from_numpy(np.random.default_rng(rank).standard_normal(size, dtype=np.float32))

        def run(step: int) -> None:
            dist.all_reduce(tensor)
    run(0)
    started = time.perf_counter()
    for step in range(1, steps + 1):
        run(step)
    return time.perf_counter() - started


def measure(mode: str, world: int, size: int, steps: int, where: str) -> float:
    """Seconds per step of one run of `world` processes (the slowest one's)."""
    processes = [subprocess.Popen([sys.executable, __file__, "--worker", mode, str(rank), str(world), str(size),
                                   str(steps), where], stdout=subprocess.PIPE, text=True)
                 for rank in range(world)]
    seconds = [float(process.communicate(timeout=1800)[0].split()[-1]) for process in processes]
    if any(process.returncode for process in processes):
        raise RuntimeError(f"a {mode} worker failed")
    return max(seconds) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        mode, rank, world, size, steps, where = args.worker
        print(worker(mode, int(rank), int(world), int(size), int(steps), where), flush=True)
        return

    import lrctl
    from tests.support.server_process import ServerProcess

    rows = []
    with tempfile.TemporaryDirectory() as data_dir:
        server = ServerProcess(pathlib.Path(data_dir) / "data").start()
        try:
            with lrctl.Client(server.address, timeout=300) as client:
                for world in args.workers:
                    for size in args.sizes:
                        job = client.create_job(f"dp-{world}-{size}", {"lr": 1e-3},
                                                optimizer={"adam": {}, "workers": world, "step_timeout_seconds": 600})
                        job.init_params({"w": np.zeros(size, np.float32)})
            for world in args.workers:
                for size in args.sizes:
                    times: dict[str, list[float]] = {"lrctl": [], "echo": [], "ddp": []}
                    for round_ in range(args.rounds):
                        for mode in times:
                            where = (server.address if mode != "ddp"
                                     else str(pathlib.Path(data_dir) / f"ddp-{world}-{size}-{round_}"))
                            times[mode].append(measure(mode, world, size, args.steps, where))
                    median = {mode: float(np.median(values)) for mode, values in times.items()}
                    gradient_bytes = world * size * 4
                    rows.append({"workers": world, "params": size, **{f"{m}_s": v for m, v in median.items()},
                                 "steps_per_s": 1 / median["lrctl"], "gradient_gb_per_s": gradient_bytes / median["lrctl"] / 1e9,
                                 "echo_over_step": median["echo"] / median["lrctl"],
                                 "ddp_over_step": median["ddp"] / median["lrctl"]})
        finally:
            server.kill()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; medians of {args.rounds} "
          f"alternating rounds of {args.steps} steps")
    print(f"{'W':>2}{'params':>11}{'step ms':>9}{'steps/s':>9}{'grad GB/s':>10}{'echo ms':>9}{'echo/step':>10}"
          f"{'DDP ms':>8}{'DDP/step':>9}")
    for r in rows:
        print(f"{r['workers']:>2}{r['params']:>11,}{r['lrctl_s'] * 1e3:>9.1f}{r['steps_per_s']:>9.2f}"
              f"{r['gradient_gb_per_s']:>10.2f}{r['echo_s'] * 1e3:>9.1f}{r['echo_over_step']:>10.2f}"
              f"{r['ddp_s'] * 1e3:>8.1f}{r['ddp_over_step']:>9.2f}")
    out = REPO / "bench" / "results" / "data_parallel.json"
    out.write_text(json.dumps({"rows": rows, "cores": os.cpu_count(), "rounds": args.rounds, "steps": args.steps},
                              indent=2))
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
