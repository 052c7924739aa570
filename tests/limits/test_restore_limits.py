"""Arrays restored from snapshots after a restart count against the limits the server runs
with now: a job over them is refused (RESOURCE_EXHAUSTED) until room is made, and an
imported file is held to the same limits."""
from __future__ import annotations

import numpy as np
import pytest

import lrctl
from tests.limits.conftest import exhausted
from tests.support.server_process import ServerProcess

CHUNK = {"chunk_bytes": 4096}
JOB_BYTES = 1000 * 16
"""An Adam job of 1000 elements: parameters, gradient scratch, exp_avg, exp_avg_sq (float32)."""


def upload(client: lrctl.Client, job_id: str, elements: int) -> np.ndarray:
    values = np.arange(elements, dtype=np.float32)
    client.create_job(job_id, {"lr": 0.1}, optimizer={"adam": {}}).init_params({"w": values}, **CHUNK)
    return values


def test_restored_and_imported_arrays_are_held_to_the_current_limits(tmp_path) -> None:
    before = ServerProcess(tmp_path / "data").start()
    try:
        with lrctl.Client(before.address) as client:
            upload(client, "big", 1500)
            p, q = upload(client, "p", 1000), upload(client, "q", 1000)
            client.job("big").export(tmp_path / "big.npz", **CHUNK)
    finally:
        assert before.terminate() == 0
    limits = ["--max-elements-per-job", "1000", "--max-optimizer-state-bytes", str(JOB_BYTES + JOB_BYTES // 2)]
    after = ServerProcess(tmp_path / "data", limits).start()
    try:
        with lrctl.Client(after.address) as client:
            with pytest.raises(lrctl.LrctlError) as error:
                client.job("big").pull(**CHUNK)
            exhausted(error, "at least 1500 elements in one job", "(--max-elements-per-job)")
            np.testing.assert_array_equal(client.job("p").pull(**CHUNK).params["w"], p)
            with pytest.raises(lrctl.LrctlError) as error:
                client.job("q").pull(**CHUNK)
            exhausted(error, "optimizer state limit reached: job 'q'", "(--max-optimizer-state-bytes)")
            with pytest.raises(lrctl.LrctlError) as error:
                client.import_job(tmp_path / "big.npz", "big-copy", **CHUNK)
            exhausted(error, "at least 1500 elements in one job", "(--max-elements-per-job)")
            with pytest.raises(lrctl.NotFound):
                client.get_job("big-copy")

            client.delete_job("p")
            np.testing.assert_array_equal(client.job("q").pull(**CHUNK).params["w"], q)
    finally:
        after.kill()
