"""`RemoteLRScheduler` under Hugging Face Accelerate's `accelerator.prepare(...)`, on the CPU
with one and with two processes (gloo), with and without `split_batches`, and under gradient
accumulation: its LR equals torch's own scheduler prepared the same way, at every step.

`AcceleratedScheduler` steps the wrapped scheduler `num_processes` times per optimizer step
unless `split_batches=True`, and not at all on accumulation steps. RemoteLRScheduler counts
those calls as torch's schedulers do, so the job's step is what torch's step would be.
"""
from __future__ import annotations

import itertools
import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

pytest.importorskip("accelerate")

from tests.support.server_process import ServerProcess  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
_ids = itertools.count()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(server: ServerProcess, tmp_path: pathlib.Path, processes: int, split_batches: bool) -> list[dict]:
    job_id = f"accelerate-{next(_ids)}"
    port = free_port()
    workers = []
    for rank in range(processes):
        out = tmp_path / f"{job_id}-{rank}.json"
        env = {name: value for name, value in os.environ.items() if not name.startswith("LRCTL_")}
        if processes > 1:
            env.update(WORLD_SIZE=str(processes), RANK=str(rank), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(processes),
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        workers.append((out, subprocess.Popen(
            [sys.executable, "-m", "tests.integrations._accelerate_worker", server.address, job_id,
             "split" if split_batches else "whole", str(out)], cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)))
    results = []
    for out, worker in workers:
        output, _ = worker.communicate(timeout=240)
        assert worker.returncode == 0, output
        results.append(json.loads(out.read_text()))
    return results


@pytest.mark.parametrize("processes, split_batches", [(1, False), (2, False), (2, True)])
def test_remote_scheduler_is_exact_under_prepare(server: ServerProcess, tmp_path: pathlib.Path, processes: int,
                                                 split_batches: bool) -> None:
    results = run(server, tmp_path, processes, split_batches)
    for result in results:
        assert result["processes"] == processes
        assert result["lrs"], "trained"
        for ours, theirs in result["lrs"]:
            assert ours == pytest.approx(theirs, rel=1e-12)
        optimizer_steps = len(result["lrs"]) // 2  # gradient accumulation over 2 batches
        calls_per_step = 1 if split_batches or processes == 1 else processes
        assert result["scheduler_steps"] == optimizer_steps * calls_per_step
        assert result["lrs"][-1][0] == pytest.approx(result["job_lrs"][-1], rel=1e-12)
        assert result["decision_lr"] == pytest.approx(result["job_lrs"][-1], rel=1e-12), \
            "report() on the RemoteLRScheduler itself (the prepared wrapper has none) reports at the job's step"
        assert result["max_param_difference"] <= 1e-6
    assert len({json.dumps(result["lrs"]) for result in results}) == 1, "every process saw the same LRs"
