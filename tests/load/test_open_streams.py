"""Thousands of open streams hold no thread: 2,000 WatchJob streams, 2,000 health Watch
streams without a token (auth on) and 200 Step replies that are never read, all open at
once, while 64 callers run GetLearningRate. No call may time out or fail. The latency
figures with and without the streams are bench/open_streams.py's; here nothing is timed
beyond the calls' own 10 s deadline."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

import lrctl
from tests.security.conftest import ADMIN, token_file
from tests.support.open_streams import STEP_ELEMENTS, lr_callers, open_streams
from tests.support.server_process import ServerProcess

WATCHED_JOBS, WATCHERS_PER_JOB = 40, 50
HEALTH_WATCHES, UNREAD_STEPS, CALLERS = 2000, 200, 64


@pytest.mark.load
@pytest.mark.timeout(300)
def test_thousands_of_open_streams_and_64_callers(tmp_path) -> None:
    server = ServerProcess(tmp_path / "data", ["--admin-token-file", str(token_file(tmp_path, ADMIN))]).start()
    try:
        with lrctl.Client(server.address, token=ADMIN, timeout=30) as client:
            watched = {f"watched-{n}": WATCHERS_PER_JOB for n in range(WATCHED_JOBS)}
            for job_id in watched:
                client.create_job(job_id, {"lr": 0.1, "schedule": {"cosine": {"t_max": 1000}}})
            stepped = [f"stepped-{n}" for n in range(UNREAD_STEPS)]
            for job_id in stepped:
                client.create_job(job_id, {"lr": 0.1}, optimizer={"sgd": {}}).init_params(
                    {"w": np.zeros(STEP_ELEMENTS, np.float32)})

        async def run() -> tuple:
            streams = await open_streams(server.address, ADMIN, watched, HEALTH_WATCHES, stepped)
            try:
                assert streams.count == WATCHED_JOBS * WATCHERS_PER_JOB + HEALTH_WATCHES + UNREAD_STEPS
                latencies, _ = await lr_callers(server.address, ADMIN, list(watched), CALLERS, seconds=5.0)
                alive = [call.done() for call in (*streams.watches, *streams.health_watches)]
            finally:
                await streams.close()
            return latencies, alive

        latencies, done = asyncio.run(run())
        assert latencies.errors == (), latencies.errors[:5]
        assert latencies.seconds.size > 1000 and not any(done), "every stream stayed open throughout"
        print(f"GetLearningRate beside {WATCHED_JOBS * WATCHERS_PER_JOB + HEALTH_WATCHES + UNREAD_STEPS} open "
              f"streams: {latencies.seconds.size} calls, p50 {latencies.percentile(50) * 1e3:.1f} ms, "
              f"p99 {latencies.percentile(99) * 1e3:.1f} ms")
        with lrctl.Client(server.address, token=ADMIN) as client:
            assert client.echo(b"after") == b"after"
            step, _ = client.job(stepped[0]).pull()
            assert step == 1, "the unread steps were applied"
    finally:
        server.kill()
