"""GetLearningRate beside thousands of open streams, against the same calls without them.

One real `lrctl serve` (auth on). 64 callers run GetLearningRate (horizon 1, a new step each
call) for a few seconds, first with no other streams open, then with 2,000 WatchJob streams,
2,000 health Watch streams without a token and 200 Step replies that are never read all open
at once (tests/support/open_streams.py, the load test's set), held by another client process,
alternating, medians over rounds.
The event-loop server holds each open stream as a coroutine; the old thread-per-stream server
froze at 16. Results go to bench/results/open_streams.json.

    python bench/open_streams.py [--rounds 3] [--seconds 5]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import lrctl  # noqa: E402
from tests.security.conftest import ADMIN, token_file  # noqa: E402
from tests.support.open_streams import STEP_ELEMENTS, lr_callers, open_streams  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402

WATCHED_JOBS, WATCHERS_PER_JOB, HEALTH_WATCHES, UNREAD_STEPS, CALLERS = 40, 50, 2000, 200, 64


def hold(address: str, watched: dict[str, int], stepped: list[str]) -> None:
    """The other client: opens the streams, says how many, and holds them until stdin closes."""
    async def run() -> None:
        streams = await open_streams(address, ADMIN, watched, HEALTH_WATCHES, stepped)
        print(streams.count, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await streams.close()
    asyncio.run(run())


def measure(address: str, watched: dict[str, int], stepped: list[str], with_streams: bool, seconds: float) -> dict:
    holder, count = None, 0
    if with_streams:
        holder = subprocess.Popen([sys.executable, __file__, "--hold", address, ",".join(stepped)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        count = int(holder.stdout.readline())
    try:
        latencies, qps = asyncio.run(lr_callers(address, ADMIN, list(watched), CALLERS, seconds))
    finally:
        if holder is not None:
            holder.stdin.close()
            holder.wait(60)
    return {"qps": qps, "p50_ms": latencies.percentile(50) * 1e3, "p99_ms": latencies.percentile(99) * 1e3,
            "errors": len(latencies.errors), "open_streams": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--hold", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hold:
        hold(args.hold[0], {f"watched-{n}": WATCHERS_PER_JOB for n in range(WATCHED_JOBS)}, args.hold[1].split(","))
        return
    runs: dict[bool, list[dict]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as directory:
        server = ServerProcess(pathlib.Path(directory) / "data",
                               ["--admin-token-file", str(token_file(pathlib.Path(directory), ADMIN))]).start()
        try:
            with lrctl.Client(server.address, token=ADMIN, timeout=30) as client:
                watched = {f"watched-{n}": WATCHERS_PER_JOB for n in range(WATCHED_JOBS)}
                for job_id in watched:
                    client.create_job(job_id, {"lr": 0.1, "schedule": {"cosine": {"t_max": 1000}}})
                stepped = []
                for round_ in range(args.rounds):
                    for n in range(UNREAD_STEPS):  # fresh jobs at step 0 for each round's unread steps
                        job_id = f"stepped-{round_}-{n}"
                        client.create_job(job_id, {"lr": 0.1}, optimizer={"sgd": {}}).init_params(
                            {"w": np.zeros(STEP_ELEMENTS, np.float32)})
                        stepped.append(job_id)
            for round_ in range(args.rounds):
                mine = stepped[round_ * UNREAD_STEPS:(round_ + 1) * UNREAD_STEPS]
                for with_streams in (False, True):
                    runs[with_streams].append(measure(server.address, watched, mine, with_streams, args.seconds))
        finally:
            server.kill()
    summary = {("with" if key else "without"): {name: float(np.median([r[name] for r in results]))
                                                  for name in ("qps", "p50_ms", "p99_ms", "errors", "open_streams")}
               for key, results in runs.items()}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {CALLERS} callers, medians "
          f"of {args.rounds} alternating {args.seconds:g} s runs")
    for name, figures in summary.items():
        print(f"GetLearningRate {name:>7} {figures['open_streams']:>5.0f} open streams: {figures['qps']:>6.0f} QPS, "
              f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, {figures['errors']:.0f} errors")
    print(f"p99 with / without: {summary['with']['p99_ms'] / summary['without']['p99_ms']:.2f}")
    out = REPO / "bench" / "results" / "open_streams.json"
    out.write_text(json.dumps({"summary": summary, "runs": {str(k): v for k, v in runs.items()},
                               "cores": os.cpu_count()}, indent=2))
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
