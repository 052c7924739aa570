"""Replicas benchmark, in one run: 1 SQLite server, 1 PostgreSQL replica and 3 PostgreSQL
replicas side by side, then the failover gap and the commit-to-watch latency across replicas.

- GetLearningRate (horizon 1) and ReportMetrics (a new step each call) QPS and p50/p99 at 1, 8
  and 64 concurrent callers (grpc.aio coroutines in one client process). The three setups
  alternate inside every round; each figure is the median over rounds. The 3-replica setup is
  dialled as gRPC's multi-address target with round_robin, as the SDK does.
- Failover gap: training loops (lr() every step, a report every 4) on the 3 replicas, one
  replica SIGKILLed: the slowest step around the kill, median over kills (the killed replica
  is started again between kills).
- Commit-to-watch: a WatchJob on replica B, reports on replica A; from A's acknowledgement
  (and from the request being sent) to the event arriving on B's stream.

PostgreSQL runs as a throwaway cluster of the benchmark's own (tests/support/postgres.py),
fsync on, synchronous_commit on, like the SQLite store's synchronous=FULL. Results go to
bench/results/replicas.json.

    python bench/replicas.py [--seconds 2] [--rounds 3] [--kills 3]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import threading
import time

import grpc
import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import lrctl  # noqa: E402
from lrctl.channel import SERVICE_CONFIG  # noqa: E402
from lrctl.v1 import controller_pb2, controller_pb2_grpc  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402
from tests.support.replicas import restart, start_replicas, target  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402

POLICY = {"lr": 0.1, "warmup": {"steps": 500, "start_factor": 0.01},
          "schedule": {"cosine_restarts": {"t_0": 1000, "t_mult": 2, "eta_min": 1e-5}},
          "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 2}}
CONCURRENCY = (1, 8, 64)
METHODS = ("GetLearningRate", "ReportMetrics")


async def drive(address: str, method: str, callers: int, seconds: float, tag: str) -> dict:
    """`callers` coroutines calling back to back for `seconds`; latencies of every call."""
    options = [("grpc.service_config", json.dumps(SERVICE_CONFIG))]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        controller = controller_pb2_grpc.ControllerStub(channel)
        latencies: list[float] = []
        for index in range(callers):
            await controller.CreateJob(controller_pb2.CreateJobRequest(
                job_id=f"{tag}-{index}", spec=controller_pb2.JobSpec(policy=lrctl.policy.to_policy(POLICY))))
        deadline = time.perf_counter() + seconds

        async def caller(index: int) -> None:
            job_id, step = f"{tag}-{index}", 0
            while time.perf_counter() < deadline:
                step += 1
                start = time.perf_counter()
                if method == "GetLearningRate":
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
            "p99_us": float(np.percentile(lat, 99) * 1e6)}


def rpc_table(setups: dict[str, str], seconds: float, rounds: int) -> list[dict]:
    rows = []
    for method in METHODS:
        for callers in CONCURRENCY:
            samples: dict[str, list[dict]] = {name: [] for name in setups}
            for round_ in range(rounds):
                for name, address in setups.items():
                    tag = f"{method}-{callers}-{round_}"
                    samples[name].append(asyncio.run(drive(address, method, callers, seconds, tag)))
            sqlite_qps = float(np.median([r["qps"] for r in samples["SQLite, 1 server"]]))
            for name, results in samples.items():
                figures = {key: float(np.median([r[key] for r in results])) for key in ("qps", "p50_us", "p99_us")}
                rows.append({"method": method, "callers": callers, "setup": name, **figures,
                             "qps_vs_sqlite": figures["qps"] / sqlite_qps})
                print(f"{method:16s} {callers:3d} callers  {name:24s} {figures['qps']:8.0f} QPS  "
                      f"p50 {figures['p50_us']:8.0f} us  p99 {figures['p99_us']:8.0f} us", flush=True)
    return rows


def failover_gaps(replicas: list[ServerProcess], kills: int) -> dict:
    """The slowest training-loop step around each SIGKILL of one replica, and the usual step."""
    gaps, usual = [], []
    for kill in range(kills):
        client = lrctl.Client(target(replicas), timeout=10)
        jobs = [client.create_job(f"failover-{kill}-{n}", {"lr": 0.1, "plateau": {"metric": "loss"}}, horizon=8)
                for n in range(4)]
        stop, steps = threading.Event(), []
        lock = threading.Lock()

        def loop(job: lrctl.Job) -> None:
            step = 0
            while not stop.is_set():
                start = time.monotonic()
                job.lr(step)
                if step % 4 == 0:
                    job.report(step, loss=1.0 / (1 + step % 17))
                with lock:
                    steps.append((start, time.monotonic() - start))
                step += 1
                time.sleep(0.004)

        threads = [threading.Thread(target=loop, args=(job,), daemon=True) for job in jobs]
        for thread in threads:
            thread.start()
        time.sleep(2.0)
        victim = kill % len(replicas)
        killed_at = time.monotonic()
        replicas[victim].kill()
        time.sleep(3.0)
        stop.set()
        for thread in threads:
            thread.join(30)
        around = [t for start, t in steps if killed_at - 0.5 <= start <= killed_at + 1.0]
        gaps.append(max(around))
        usual.append(statistics.median(t for _, t in steps))
        print(f"failover {kill + 1}: slowest step around the kill {max(around) * 1000:.1f} ms", flush=True)
        client.close()
        replicas[victim] = restart(replicas[victim])
    return {"gap_ms_median": statistics.median(gaps) * 1000, "gap_ms_max": max(gaps) * 1000,
            "gaps_ms": [g * 1000 for g in gaps], "usual_step_ms": statistics.median(usual) * 1000}


def commit_to_watch(a: str, b: str, reports: int = 300) -> dict:
    """From a report acknowledged by replica A to its event on a WatchJob connected to B."""
    writer, reader = lrctl.Client(a), lrctl.Client(b)
    writer.create_job("watched", POLICY)
    arrived: dict[int, float] = {}
    ready = threading.Event()

    def watch() -> None:
        for event in reader.job("watched").watch():
            arrived[event.version] = time.monotonic()
            ready.set()

    threading.Thread(target=watch, daemon=True).start()
    assert ready.wait(10)
    sent, acknowledged = {}, {}
    for step in range(reports):
        started = time.monotonic()
        version = writer.job("watched").report(step, val_loss=1.0).version
        sent[version], acknowledged[version] = started, time.monotonic()
        time.sleep(0.01)
    deadline = time.monotonic() + 10
    while not set(acknowledged) <= set(arrived) and time.monotonic() < deadline:
        time.sleep(0.05)
    from_ack = sorted(max(0.0, arrived[v] - acknowledged[v]) for v in acknowledged)
    from_send = sorted(arrived[v] - sent[v] for v in sent)
    writer.close()
    reader.close()

    def p(values: list[float], q: float) -> float:
        return float(np.percentile(values, q) * 1000)
    return {"reports": reports, "from_ack_ms_p50": p(from_ack, 50), "from_ack_ms_p99": p(from_ack, 99),
            "from_send_ms_p50": p(from_send, 50), "from_send_ms_p99": p(from_send, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()
    cluster = PostgresCluster().start()
    servers: list[ServerProcess] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        try:
            sqlite = ServerProcess(root / "sqlite").start()
            one = start_replicas(cluster.create_database(), root / "pg1", 1)
            three = start_replicas(cluster.create_database(), root / "pg3", 3)
            servers = [sqlite, *one, *three]
            setups = {"SQLite, 1 server": sqlite.address, "PostgreSQL, 1 replica": one[0].address,
                      "PostgreSQL, 3 replicas": target(three)}
            rows = rpc_table(setups, args.seconds, args.rounds)
            watch = commit_to_watch(three[0].address, three[1].address)
            print(f"commit-to-watch: {watch}", flush=True)
            failover = failover_gaps(three, args.kills)
            servers = [sqlite, *one, *three]
        finally:
            for server in servers:
                server.kill()
            cluster.stop()
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                          "postgresql": "15 (throwaway cluster, fsync on)"},
              "seconds": args.seconds, "rounds": args.rounds, "rpc": rows, "commit_to_watch": watch,
              "failover": failover}
    out = REPO / "bench" / "results" / "replicas.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
