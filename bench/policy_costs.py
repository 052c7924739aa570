"""What one policy call costs the server, at the sizes issue 13 found unbounded.

Three measurements against one real `lrctl serve` (SQLite, the defaults), each next to a
plain GetLearningRate of another job running at the same time (the peer: what every other
job on the server feels):
  - restart flood: one ReportMetrics that jumps a cosine_restarts job (t_0 1000) from step 0
    to --jump-step; its wall time, the server's CPU seconds and peak RSS, the events it
    stored, the reply's status, and the other job's slowest GetLearningRate meanwhile;
  - plateau growth: --reports reports in a row on a plateau that reduces on every report
    (factor 0.999999, patience 0); the latency of report #1, #100, #1,000 ... (median of
    the 9 around each) and the bytes the server wrote per report there (/proc/PID/io wchar);
  - previews: the server CPU of one 100,000-step PreviewSchedule with a report every 100
    steps, and another job's GetLearningRate p50/max while 4 clients loop on previews.
Results go to bench/results/policy_costs.json.

    python bench/policy_costs.py [--jump-step 100000000] [--reports 10000]
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
import threading
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import lrctl  # noqa: E402
from bench.load import cpu_seconds  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402

RESTARTS = {"lr": 0.1, "schedule": {"cosine_restarts": {"t_0": 1000}}}
SHRINKING = {"lr": 0.1, "plateau": {"metric": "loss", "factor": 0.999999, "patience": 0, "threshold": 0}}
PREVIEWED = {"lr": 0.1, "warmup": {"steps": 500}, "schedule": {"cosine_restarts": {"t_0": 1000, "t_mult": 2}},
             "plateau": {"metric": "loss", "factor": 0.5, "patience": 2}}
PREVIEW_STEPS = 100_000
PREVIEW_LOOPERS = 4


def status_of(pid: int, field: str) -> float:
    """A /proc/PID/status size field (VmRSS, VmHWM) in MiB."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def written_bytes(pid: int) -> int:
    """Bytes the process has passed to write() so far (wchar: counts what SQLite writes to
    its file and journal, whether or not the page cache has flushed it yet)."""
    for line in pathlib.Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("no wchar")


class Prober:
    """Another job's GetLearningRate, back to back on its own thread, while a measurement runs."""

    def __init__(self, address: str, job_id: str) -> None:
        self.client = lrctl.Client(address)
        self.job_id = job_id
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        step = 0
        while not self._stop.is_set():
            started = time.perf_counter()
            self.client.job(self.job_id).lease(step, 1)
            self.latencies.append(time.perf_counter() - started)
            step += 1

    def __enter__(self) -> "Prober":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.client.close()

    def summary(self) -> dict:
        ordered = sorted(self.latencies)
        if not ordered:
            return {"calls": 0}
        return {"calls": len(ordered), "p50_ms": 1e3 * ordered[len(ordered) // 2], "max_ms": 1e3 * ordered[-1]}


def restart_flood(server: ServerProcess, client: lrctl.Client, jump_step: int) -> dict:
    pid = server.process.pid
    job = client.create_job("flood", RESTARTS)
    before_version, before_cpu = job.info().version, cpu_seconds(pid)
    with Prober(server.address, "probe") as prober:
        started = time.perf_counter()
        try:
            job.report(jump_step, loss=1.0)
            outcome = "OK"
        except lrctl.LrctlError as exc:
            outcome = f"{exc.code.name}: {str(exc)[:200]}"
        wall = time.perf_counter() - started
    info = job.info()
    return {"jump_step": jump_step, "outcome": outcome, "wall_s": wall,
            "server_cpu_s": cpu_seconds(pid) - before_cpu, "server_peak_rss_mib": status_of(pid, "VmHWM"),
            "versions_written": info.version - before_version, "events_stored": len(job.events(before_version)),
            "other_job_lr": prober.summary()}


def plateau_growth(server: ServerProcess, client: lrctl.Client, reports: int) -> dict:
    pid = server.process.pid
    job = client.create_job("shrinking", SHRINKING)
    marks = [n for n in (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000) if n <= reports]
    latency, wrote = [], []
    for n in range(1, reports + 1):
        before = written_bytes(pid)
        started = time.perf_counter()
        job.report(n, loss=1.0 + n)
        latency.append(time.perf_counter() - started)
        wrote.append(written_bytes(pid) - before)
    rows = {}
    for mark in marks:
        around = slice(max(mark - 5, 0), min(mark + 4, reports))
        rows[f"report_{mark}"] = {"latency_ms": 1e3 * statistics.median(latency[around]),
                                  "server_wrote_bytes": statistics.median(wrote[around])}
    return {"reports": reports, "reductions": len(job.events()), **rows}


def previews(server: ServerProcess, client: lrctl.Client) -> dict:
    pid = server.process.pid
    metrics = {step: {"loss": 1.0 + (step // 5000) % 3} for step in range(0, PREVIEW_STEPS, 100)}
    rounds = []
    for _ in range(3):
        before = cpu_seconds(pid)
        started = time.perf_counter()
        client.preview(PREVIEWED, PREVIEW_STEPS, metrics)
        rounds.append({"wall_s": time.perf_counter() - started, "server_cpu_s": cpu_seconds(pid) - before})
    with Prober(server.address, "probe") as alone:
        time.sleep(3)
    stop = threading.Event()

    def loop(index: int) -> None:
        with lrctl.Client(server.address) as looper:
            while not stop.is_set():
                try:
                    looper.preview(PREVIEWED, PREVIEW_STEPS, metrics)
                except lrctl.LrctlError:
                    time.sleep(0.01)

    loopers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(PREVIEW_LOOPERS)]
    for thread in loopers:
        thread.start()
    time.sleep(1)
    with Prober(server.address, "probe") as loaded:
        time.sleep(5)
    stop.set()
    for thread in loopers:
        thread.join()
    return {"steps": PREVIEW_STEPS, "reports": len(metrics),
            "one_preview": {key: statistics.median(r[key] for r in rounds) for key in rounds[0]},
            "other_job_lr_alone": alone.summary(), f"other_job_lr_with_{PREVIEW_LOOPERS}_previewers": loaded.summary()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jump-step", type=int, default=100_000_000)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--out", type=pathlib.Path, default=REPO / "bench/results/policy_costs.json")
    args = parser.parse_args()
    results: dict = {"machine": {"python": platform.python_version(), "cpus": len(os.sched_getaffinity(0))}}
    with tempfile.TemporaryDirectory() as data_dir:
        server = ServerProcess(pathlib.Path(data_dir)).start()
        try:
            with lrctl.Client(server.address) as client:
                client.create_job("probe", {"lr": 0.1, "schedule": {"cosine": {"t_max": 1000}}})
                for name, run in (("previews", lambda: previews(server, client)),
                                  ("plateau_growth", lambda: plateau_growth(server, client, args.reports)),
                                  ("restart_flood", lambda: restart_flood(server, client, args.jump_step))):
                    results[name] = run()
                    print(name, json.dumps(results[name], indent=1), flush=True)
        finally:
            server.kill()
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
