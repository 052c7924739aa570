"""Control-plane benchmark: GetLearningRate / ReportMetrics vs the best empty echo, side by side.

One run, two servers: a real `lrctl serve` (grpc.aio, its interceptors included) and the old
synchronous stack's bare echo (bench/sync_echo.py: grpcio's thread-pool server, 16 workers,
no interceptors). It prints ratios:
  - QPS and p50/p99 latency at 1, 8 and 64 concurrent callers (grpc.aio callers in one
    client process) of the echo on both stacks, and of GetLearningRate and ReportMetrics,
    which are compared with the better echo; the four runs alternate, and each figure is the
    median over rounds;
  - what one fsync costs on this disk (every ReportMetrics waits for one; GetLearningRate
    and the echoes do no I/O);
  - the SDK's lease-cached job.lr(step) per call vs torch's scheduler.step() per call,
    and RPCs per 100 steps;
  - server RSS with N registered jobs (default 100,000).
Results go to bench/results/control_plane.json.

    python bench/control_plane.py [--seconds 3] [--jobs 100000]
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import pathlib
import platform
import sys
import tempfile
import time
import timeit

import grpc
import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import lrctl  # noqa: E402
from lrctl.v1 import controller_pb2, controller_pb2_grpc  # noqa: E402
from bench.sync_echo import SyncEchoServer  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402

POLICY = {"lr": 0.1, "warmup": {"steps": 500, "start_factor": 0.01},
          "schedule": {"cosine_restarts": {"t_0": 1000, "t_mult": 2, "eta_min": 1e-5}},
          "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 2}}
CONCURRENCY = (1, 8, 64)


ROUNDS = 3


RUNS = itertools.count()


async def drive(address: str, method: str, callers: int, seconds: float) -> dict:
    """`callers` coroutines calling back to back for `seconds`; latencies of every call."""
    async with grpc.aio.insecure_channel(address) as channel:
        controller = controller_pb2_grpc.ControllerStub(channel)
        diagnostics = controller_pb2_grpc.DiagnosticsStub(channel)
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        run = next(RUNS)

        async def caller(index: int) -> None:
            job_id = f"bench-{method}-{callers}-{run}-{index}"  # each round its own jobs
            if method != "Echo":
                await controller.CreateJob(controller_pb2.CreateJobRequest(
                    job_id=job_id, spec=controller_pb2.JobSpec(policy=lrctl.policy.to_policy(POLICY))))
            step = 0
            echo = controller_pb2.EchoMessage(payload=b"x" * 32)
            while time.perf_counter() < deadline:
                step += 1
                start = time.perf_counter()
                if method == "Echo":
                    await diagnostics.Echo(echo)
                elif method == "GetLearningRate":
                    await controller.GetLearningRate(controller_pb2.GetLearningRateRequest(
                        job_id=job_id, step=step, horizon=1))
                else:
                    await controller.ReportMetrics(controller_pb2.ReportMetricsRequest(
                        job_id=job_id, step=step, metrics={"val_loss": 1.0 / step}))
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(callers)))
        elapsed = time.perf_counter() - began
    lat = np.array(latencies)
    return {"qps": len(lat) / elapsed, "p50_us": float(np.percentile(lat, 50) * 1e6),
            "p99_us": float(np.percentile(lat, 99) * 1e6), "calls": int(len(lat))}


def rpc_table(lrctl_address: str, sync_address: str, seconds: float, rounds: int = ROUNDS) -> list[dict]:
    """One row per (method, callers); every figure the median over `rounds` alternating runs."""
    runs = {"Echo (sync stack)": (sync_address, "Echo"), "Echo (lrctl, aio)": (lrctl_address, "Echo"),
            "GetLearningRate": (lrctl_address, "GetLearningRate"), "ReportMetrics": (lrctl_address, "ReportMetrics")}
    rows = []
    for callers in CONCURRENCY:
        samples: dict[str, list[dict]] = {name: [] for name in runs}
        for _ in range(rounds):
            for name, (address, method) in runs.items():
                samples[name].append(asyncio.run(drive(address, method, callers, seconds)))
        medians = {name: {key: float(np.median([r[key] for r in results])) for key in ("qps", "p50_us", "p99_us")}
                   for name, results in samples.items()}
        best = max(("Echo (sync stack)", "Echo (lrctl, aio)"), key=lambda name: medians[name]["qps"])
        for name, figures in medians.items():
            rows.append({"method": name, "callers": callers, **figures, "best_echo": best,
                         "echo_qps": medians[best]["qps"], "echo_p99_us": medians[best]["p99_us"],
                         "qps_ratio": figures["qps"] / medians[best]["qps"],
                         "p99_ratio": figures["p99_us"] / medians[best]["p99_us"]})
    return rows


def fsync_cost(directory: pathlib.Path, writes: int = 300) -> dict:
    """Median time of a 4 KiB append + fsync in `directory`: the durable part of every report."""
    path = directory / "fsync-probe"
    times = []
    with open(path, "ab") as file:
        for _ in range(writes):
            started = time.perf_counter()
            file.write(b"x" * 4096)
            file.flush()
            os.fsync(file.fileno())
            times.append(time.perf_counter() - started)
    path.unlink()
    return {"fsync_us_p50": float(np.median(times) * 1e6), "fsync_us_p99": float(np.percentile(times, 99) * 1e6)}


def lease_vs_torch(address: str) -> dict:
    import torch

    steps = 100_000
    with lrctl.Client(address) as client:
        job = client.create_job("bench-lease", POLICY)
        job.lr(0)
        started = job.rpc_count
        step_iter = iter(range(1, 10**9))
        per_call_sdk = min(timeit.repeat(lambda: job.lr(next(step_iter)), number=steps, repeat=3)) / steps
        rpcs_per_100 = (job.rpc_count - started) / (3 * steps) * 100
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=1000, T_mult=2, eta_min=1e-5)
    per_call_torch = min(timeit.repeat(scheduler.step, number=steps // 10, repeat=3)) / (steps // 10)
    return {"sdk_lr_us": per_call_sdk * 1e6, "torch_scheduler_step_us": per_call_torch * 1e6,
            "ratio_sdk_over_torch": per_call_sdk / per_call_torch, "rpcs_per_100_steps": rpcs_per_100,
            "horizon": job.horizon}


def rss_with_jobs(jobs: int) -> dict:
    with tempfile.TemporaryDirectory() as data_dir:
        server = ServerProcess(pathlib.Path(data_dir)).start()
        try:
            rss_empty = _rss_bytes(server.process.pid)
            async def create_all() -> None:
                async with grpc.aio.insecure_channel(server.address) as channel:
                    stub = controller_pb2_grpc.ControllerStub(channel)
                    policy = lrctl.policy.to_policy(POLICY)
                    queue = iter(range(jobs))

                    async def worker() -> None:
                        for n in queue:
                            await stub.CreateJob(controller_pb2.CreateJobRequest(
                                job_id=f"job-{n:06d}", spec=controller_pb2.JobSpec(policy=policy)))
                    await asyncio.gather(*(worker() for _ in range(32)))
            began = time.perf_counter()
            asyncio.run(create_all())
            create_seconds = time.perf_counter() - began
            rss_full = _rss_bytes(server.process.pid)
            server.kill()
            began = time.perf_counter()
            server = ServerProcess(pathlib.Path(data_dir)).start()
            restart_seconds = time.perf_counter() - began
            rss_restarted = _rss_bytes(server.process.pid)
        finally:
            server.kill()
    return {"jobs": jobs, "rss_empty_mib": rss_empty / 2**20, "rss_mib": rss_full / 2**20,
            "rss_after_restart_mib": rss_restarted / 2**20, "create_per_s": jobs / create_seconds,
            "restart_to_serving_s": restart_seconds}


def _rss_bytes(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--jobs", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        server = ServerProcess(pathlib.Path(data_dir)).start()
        sync = SyncEchoServer()
        try:
            rows = rpc_table(server.address, sync.address, args.seconds, args.rounds)
            lease = lease_vs_torch(server.address)
            fsync = fsync_cost(pathlib.Path(data_dir))
        finally:
            sync.close()
            server.kill()
    memory = rss_with_jobs(args.jobs)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; medians of {args.rounds} "
          f"alternating {args.seconds:g} s runs")
    print(f"{'RPC':<20}{'callers':>8}{'QPS':>9}{'p50 µs':>9}{'p99 µs':>9}   vs best echo: {'QPS':>6}{'p99':>7}")
    for r in rows:
        print(f"{r['method']:<20}{r['callers']:>8}{r['qps']:>9.0f}{r['p50_us']:>9.0f}{r['p99_us']:>9.0f}"
              f"   {r['best_echo']:<18}{r['qps_ratio']:>6.2f}{r['p99_ratio']:>7.2f}")
    print(f"fsync (4 KiB append) on the data dir's disk: p50 {fsync['fsync_us_p50']:.0f} µs, "
          f"p99 {fsync['fsync_us_p99']:.0f} µs; each ReportMetrics waits for one (shared by a group commit)")
    print(f"SDK job.lr(step) from the lease: {lease['sdk_lr_us']:.3f} µs/call vs torch scheduler.step() "
          f"{lease['torch_scheduler_step_us']:.2f} µs/call (ratio {lease['ratio_sdk_over_torch']:.3f}); "
          f"{lease['rpcs_per_100_steps']:.2f} RPCs per 100 steps (horizon {lease['horizon']})")
    print(f"RSS: {memory['rss_empty_mib']:.0f} MiB empty, {memory['rss_mib']:.0f} MiB with {memory['jobs']} jobs "
          f"(created at {memory['create_per_s']:.0f}/s), {memory['rss_after_restart_mib']:.0f} MiB after restart; "
          f"restart to serving {memory['restart_to_serving_s']:.2f} s")
    out = REPO / "bench" / "results" / "control_plane.json"
    out.write_text(json.dumps({"rpc": rows, "fsync": fsync, "lease": lease, "memory": memory,
                               "cores": os.cpu_count(), "rounds": args.rounds, "seconds": args.seconds}, indent=2))
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
