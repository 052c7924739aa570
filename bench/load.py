"""Load test: many control-plane jobs at a training loop's rate plus a few data-plane jobs,
for a fixed time, against one real `lrctl serve` process; two identical rounds.

Each round creates --jobs control-plane jobs (warmup, cosine restarts, plateau) and
--data-jobs data-plane jobs (Adam, --data-elements float32 parameters each), drives them
for --seconds, then deletes them all.
  - A control-plane job is a training loop of --steps-per-second steps/s: every step reads
    its LR through the SDK's lease (job.lr(step): one GetLearningRate per lease, and one
    more after each report, whose new version drops the lease), and every
    --steps-per-report steps it reports val_loss (ReportMetrics). The jobs' loops are
    spread evenly over the report period and run in --procs client processes of
    --threads threads each; a thread serves its jobs in due order, so a slow server shows
    as tick lag and as fewer reports than offered.
  - A data-plane job steps (gradients in, all parameters back, the SDK's job.step) at
    --data-step-rate steps/s (0: back to back), in one more client process.
Reported per RPC type: count, throughput, p50/p99 latency and errors (which must be 0: the
exit status is 1 otherwise); reports offered vs achieved; CPU used by the server and by the
clients; and the server's RSS before the jobs, after creating them, after the load and after
deleting them, in every round. The first round leaves a one-off step behind (worker threads,
allocator arenas that keep freed 1 MiB chunk buffers, caches); a leak is what keeps growing
from round to round (--rounds 3 to see the trend). Results go to bench/results/load.json.

    python bench/load.py [--seconds 30] [--jobs 1000] [--data-jobs 3] [--procs 2] [--threads 8] [--rounds 2]
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import heapq
import json
import math
import multiprocessing
import os
import pathlib
import platform
import sys
import tempfile
import threading
import time
from typing import Any

import grpc
import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import lrctl  # noqa: E402
from lrctl.v1 import controller_pb2, controller_pb2_grpc  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402

POLICY = {"lr": 0.1, "warmup": {"steps": 500, "start_factor": 0.01},
          "schedule": {"cosine_restarts": {"t_0": 1000, "t_mult": 2, "eta_min": 1e-5}},
          "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 5}}
RPCS = ("GetLearningRate", "ReportMetrics", "Step")
CALL_TIMEOUT = 60.0


# ---- client processes ------------------------------------------------------------------
class Recorder:
    """One thread's latencies (seconds) per RPC type, errors by (RPC, code), tick lags, and
    ticks that were due before the end but never ran (the loops fell behind)."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = collections.defaultdict(list)
        self.errors: collections.Counter[str] = collections.Counter()
        self.lags: list[float] = []
        self.lr_calls = 0
        self.missed = 0
        self.cpu_seconds = 0.0

    def timed(self, rpc: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = call(*args, **kwargs)
        except lrctl.LrctlError as error:
            self.errors[f"{rpc} {error.code.name}"] += 1
            return None
        self.latencies[rpc].append(time.perf_counter() - started)
        return result

    def merge(self, other: dict) -> None:
        for rpc, values in other["latencies"].items():
            self.latencies[rpc].extend(values)
        self.errors.update(other["errors"])
        self.lags.extend(other["lags"])
        self.lr_calls += other["lr_calls"]
        self.missed += other["missed"]
        self.cpu_seconds += other["cpu_seconds"]

    def as_dict(self) -> dict:
        return {"latencies": dict(self.latencies), "errors": dict(self.errors), "lags": self.lags,
                "lr_calls": self.lr_calls, "missed": self.missed, "cpu_seconds": self.cpu_seconds}


def _loss(step: int, index: int) -> float:
    """A validation loss that falls, then flattens (so plateau reductions happen)."""
    return 1.0 / (1.0 + min(step, 3000 + 37 * index) / 500.0) + 0.01 * ((step * 7919 + index) % 13) / 13


def _training_loops(client: lrctl.Client, jobs: list[tuple[int, str]], config: dict, start: float,
                    stop: float, recorder: Recorder) -> None:
    """The loops of `jobs` ((index, id)), each ticking once per report period; a tick reads
    the LR of every step of the period (from the lease) and reports at its end."""
    period = config["steps_per_report"] / config["steps_per_second"]
    handles = {index: client.job(job_id) for index, job_id in jobs}
    steps = dict.fromkeys(handles, 0)
    due = [(start + period * index / config["jobs"], index) for index in handles]
    heapq.heapify(due)
    while due:
        when, index = heapq.heappop(due)
        if time.monotonic() >= stop:  # out of time: what is still due was offered, not served
            recorder.missed += sum(math.ceil((stop - w) / period) for w, _ in [(when, index), *due] if w < stop)
            break
        if when >= stop:
            continue
        delay = when - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        recorder.lags.append(time.monotonic() - when)
        job, first = handles[index], steps[index]
        for step in range(first, first + config["steps_per_report"]):
            rpcs = job.rpc_count
            started = time.perf_counter()
            try:
                job.lr(step)
            except lrctl.LrctlError as error:
                recorder.errors[f"GetLearningRate {error.code.name}"] += 1
                continue
            if job.rpc_count != rpcs:
                recorder.latencies["GetLearningRate"].append(time.perf_counter() - started)
        recorder.lr_calls += config["steps_per_report"]
        steps[index] = first + config["steps_per_report"]
        recorder.timed("ReportMetrics", job.report, steps[index], val_loss=_loss(steps[index], index))
        heapq.heappush(due, (when + period, index))


def _data_loop(client: lrctl.Client, job_id: str, config: dict, start: float, stop: float,
               recorder: Recorder) -> None:
    """One data-plane job's steps at config["data_step_rate"] (a late step runs at once)."""
    job = client.job(job_id)
    grads = {"params": np.random.default_rng(1).standard_normal(config["data_elements"]).astype(np.float32) * 1e-3}
    interval = 1.0 / config["data_step_rate"] if config["data_step_rate"] else 0.0
    when, step = start, 0
    while when < stop and time.monotonic() < stop:
        delay = when - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if recorder.timed("Step", job.step, step, grads, timeout=CALL_TIMEOUT) is not None:
            step += 1
        when = when + interval if interval else time.monotonic()


def client_process(address: str, kind: str, jobs: list[tuple[int, str]], config: dict, ready: Any, go: Any,
                   start_at: Any, out: Any) -> None:
    """A client process: `kind` "control" runs training loops on config["threads"] threads,
    "data" one thread per data-plane job; the merged recorder goes to `out`."""
    with lrctl.Client(address, timeout=CALL_TIMEOUT) as client:
        client.echo()  # connected before the clock starts
        ready.put(os.getpid())
        go.wait()
        start, stop = start_at.value, start_at.value + config["seconds"]
        if kind == "control":
            shares = [jobs[i::config["threads"]] for i in range(config["threads"])]
            work = [(_training_loops, share) for share in shares if share]
        else:
            work = [(_data_loop, job_id) for _, job_id in jobs]
        recorders = [Recorder() for _ in work]
        cpu = time.process_time()
        threads = [threading.Thread(target=loop, args=(client, arg, config, start, stop, recorder))
                   for (loop, arg), recorder in zip(work, recorders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cpu = time.process_time() - cpu
    merged = Recorder()
    for recorder in recorders:
        merged.merge(recorder.as_dict())
    merged.cpu_seconds = cpu
    out.put(merged.as_dict())


# ---- the server side -----------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _each(address: str, ids: list[str], request: Any, method: str, concurrency: int = 32) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = controller_pb2_grpc.ControllerStub(channel)
        queue = iter(ids)

        async def worker() -> None:
            for job_id in queue:
                await getattr(stub, method)(request(job_id), timeout=CALL_TIMEOUT)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def create_jobs(address: str, control: list[str], data: list[str], elements: int) -> float:
    """Creates the round's jobs (data-plane ones with their parameters); returns seconds taken."""
    began = time.perf_counter()
    spec = controller_pb2.JobSpec(policy=lrctl.policy.to_policy(POLICY))
    asyncio.run(_each(address, control, lambda job_id: controller_pb2.CreateJobRequest(job_id=job_id, spec=spec),
                      "CreateJob"))
    with lrctl.Client(address, timeout=CALL_TIMEOUT) as client:
        rng = np.random.default_rng(0)
        for job_id in data:
            job = client.create_job(job_id, {"lr": 1e-3}, optimizer={"adam": {}})
            job.init_params({"params": rng.standard_normal(elements).astype(np.float32)})
    return time.perf_counter() - began


def delete_jobs(address: str, ids: list[str]) -> float:
    began = time.perf_counter()
    asyncio.run(_each(address, ids, lambda job_id: controller_pb2.DeleteJobRequest(job_id=job_id), "DeleteJob"))
    return time.perf_counter() - began


def run_round(server: ServerProcess, number: int, config: dict) -> dict:
    pid, address = server.process.pid, server.address
    control = [f"load-{number}-{i:05d}" for i in range(config["jobs"])]
    data = [f"load-{number}-data-{i}" for i in range(config["data_jobs"])]
    rss = {"before_jobs": rss_mib(pid)}
    create_s = create_jobs(address, control, data, config["data_elements"])
    rss["after_create"] = rss_mib(pid)

    ctx = multiprocessing.get_context("spawn")
    ready, out, go, start_at = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
    indexed = list(enumerate(control))
    work = [("control", indexed[i::config["procs"]]) for i in range(config["procs"])]
    if data:
        work.append(("data", list(enumerate(data))))
    processes = [ctx.Process(target=client_process, args=(address, kind, jobs, config, ready, go, start_at, out))
                 for kind, jobs in work]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    start_at.value = time.monotonic() + 0.5
    go.set()
    time.sleep(0.5)
    server_cpu = cpu_seconds(pid)
    merged = Recorder()
    for _ in processes:
        merged.merge(out.get(timeout=config["seconds"] + 300))
    server_cpu = cpu_seconds(pid) - server_cpu
    for process in processes:
        process.join(30)
    rss["after_load"] = rss_mib(pid)
    delete_s = delete_jobs(address, control + data)
    time.sleep(1.0)
    rss["after_delete"] = rss_mib(pid)
    return {**summarize(number, config, merged, rss, create_s, delete_s),
            "server_cpu_cores": server_cpu / config["seconds"],
            "clients_cpu_cores": merged.cpu_seconds / config["seconds"]}


def summarize(number: int, config: dict, recorder: Recorder, rss: dict, create_s: float, delete_s: float) -> dict:
    seconds = config["seconds"]
    rpcs = {}
    for rpc in RPCS:
        lat = np.array(recorder.latencies.get(rpc, []))
        errors = sum(n for key, n in recorder.errors.items() if key.startswith(rpc + " "))
        rpcs[rpc] = {"count": int(lat.size), "per_s": lat.size / seconds, "errors": errors,
                     "p50_ms": float(np.percentile(lat, 50) * 1e3) if lat.size else None,
                     "p99_ms": float(np.percentile(lat, 99) * 1e3) if lat.size else None}
    lags = np.array(recorder.lags)
    offered_reports = (rpcs["ReportMetrics"]["count"] + rpcs["ReportMetrics"]["errors"] + recorder.missed) / seconds
    return {
        "round": number, "rpc": rpcs, "errors": dict(recorder.errors),
        "reports_offered_per_s": offered_reports, "reports_achieved_per_s": rpcs["ReportMetrics"]["per_s"],
        "ticks_missed": recorder.missed,
        "lr_calls_per_s": recorder.lr_calls / seconds,
        "rpcs_per_100_lr_calls": 100 * rpcs["GetLearningRate"]["count"] / max(recorder.lr_calls, 1),
        "tick_lag_p50_ms": float(np.percentile(lags, 50) * 1e3) if lags.size else None,
        "tick_lag_p99_ms": float(np.percentile(lags, 99) * 1e3) if lags.size else None,
        "data_steps_offered_per_s": config["data_jobs"] * config["data_step_rate"] if config["data_step_rate"] else None,
        "data_steps_achieved_per_s": rpcs["Step"]["per_s"],
        "rss_mib": rss, "create_s": create_s, "delete_s": delete_s,
    }


# ---- the report ----------------------------------------------------------------------------
def machine() -> dict:
    model = ""
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"cpu_model": model, "cpus": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(), "grpc": grpc.__version__}


def print_round(r: dict) -> None:
    print(f"round {r['round']}: {'rpc':<16}{'count':>8}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for rpc, s in r["rpc"].items():
        p50 = f"{s['p50_ms']:.2f}" if s["p50_ms"] is not None else "-"
        p99 = f"{s['p99_ms']:.2f}" if s["p99_ms"] is not None else "-"
        print(f"         {rpc:<16}{s['count']:>8}{s['per_s']:>9.1f}{p50:>9}{p99:>9}{s['errors']:>8}")
    print(f"         reports {r['reports_achieved_per_s']:.0f}/s achieved of {r['reports_offered_per_s']:.0f}/s "
          f"offered; tick lag p50 {r['tick_lag_p50_ms']:.1f} ms, p99 {r['tick_lag_p99_ms']:.1f} ms; "
          f"{r['lr_calls_per_s']:.0f} job.lr() calls/s, {r['rpcs_per_100_lr_calls']:.2f} RPCs per 100")
    if r["data_steps_achieved_per_s"]:
        offered = r["data_steps_offered_per_s"]
        print(f"         data-plane steps {r['data_steps_achieved_per_s']:.1f}/s achieved"
              + (f" of {offered:.0f}/s offered" if offered else " (back to back)"))
    print(f"         CPU: server {r['server_cpu_cores']:.2f} cores, client processes {r['clients_cpu_cores']:.2f} "
          f"cores (of {os.cpu_count()})")
    rss = r["rss_mib"]
    print(f"         server RSS MiB: before jobs {rss['before_jobs']:.0f}, after create {rss['after_create']:.0f}, "
          f"after load {rss['after_load']:.0f}, after delete {rss['after_delete']:.0f} "
          f"(create {r['create_s']:.1f} s, delete {r['delete_s']:.1f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--steps-per-second", type=float, default=100.0, help="each control-plane job's step rate")
    parser.add_argument("--steps-per-report", type=int, default=100, help="a report every this many steps")
    parser.add_argument("--data-jobs", type=int, default=3)
    parser.add_argument("--data-elements", type=int, default=1_000_000)
    parser.add_argument("--data-step-rate", type=float, default=10.0, help="steps/s per data job; 0: back to back")
    parser.add_argument("--procs", type=int, default=2, help="client processes for the control-plane jobs")
    parser.add_argument("--threads", type=int, default=8, help="threads per control-plane client process")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=pathlib.Path, default=REPO / "bench" / "results" / "load.json")
    args = parser.parse_args()
    config = {key: getattr(args, key) for key in ("seconds", "jobs", "steps_per_second", "steps_per_report",
                                                  "data_jobs", "data_elements", "data_step_rate", "procs",
                                                  "threads")}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as data_dir:
        server = ServerProcess(pathlib.Path(data_dir)).start()
        try:
            rounds = [run_round(server, number, config) for number in range(1, args.rounds + 1)]
            server_alive = server.process.poll() is None
        finally:
            server.kill()
    env = {**machine(), "loadavg_1min_before": load_before}
    print(f"machine: {env['cpu_model']} ({env['cpus']} CPUs), Python {env['python']}, grpc {env['grpc']}; "
          f"1-min load average before the run {load_before:.2f} (anything else running shares the cores)")
    print(f"load: {args.jobs} control-plane jobs at {args.steps_per_second:g} steps/s reporting every "
          f"{args.steps_per_report} steps, {args.data_jobs} data-plane jobs of {args.data_elements} params (Adam), "
          f"{args.seconds:g} s per round, {args.procs} client processes x {args.threads} threads")
    for r in rounds:
        print_round(r)
    growth = {"after_delete_mib": rounds[-1]["rss_mib"]["after_delete"] - rounds[0]["rss_mib"]["after_delete"],
              "after_load_mib": rounds[-1]["rss_mib"]["after_load"] - rounds[0]["rss_mib"]["after_load"]}
    if len(rounds) > 1:
        print(f"RSS growth, last round vs first: {growth['after_delete_mib']:+.1f} MiB after delete, "
              f"{growth['after_load_mib']:+.1f} MiB after load")
    errors = sum(sum(s["errors"] for s in r["rpc"].values()) for r in rounds)
    args.out.write_text(json.dumps({"machine": env, "config": config, "rounds": rounds, "rss_growth": growth,
                                    "errors": errors, "server_alive": server_alive}, indent=2))
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    if errors or not server_alive:
        print(f"FAILED: {errors} errors{'' if server_alive else ', server died'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
