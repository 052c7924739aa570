"""The data plane as a parameter server, against torch DDP: 4 worker processes with DDP (gloo
on CPU) and a local torch optimizer, and 4 worker processes with lrctl.torch.RemoteOptimizer
on one job of 4 workers, on the same data split and seeds. Parameters match after 50 steps
(rtol 1e-5) and so do the LRs (warmup -> cosine). DDP sums in gloo's order, lrctl in rank
order, so parameters agree to float32 rounding, not bit for bit."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest

import lrctl
from tests.support.server_process import ServerProcess

WORKER = pathlib.Path(__file__).with_name("_data_parallel_worker.py")
WORLD = 4
sys.path.insert(0, str(WORKER.parent))
from _data_parallel_worker import POLICY  # noqa: E402


def run(mode: str, kind: str, where: str, out: pathlib.Path) -> dict[str, np.ndarray]:
    workers = [subprocess.Popen([sys.executable, str(WORKER), mode, kind, str(rank), str(WORLD), where, str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for rank in range(WORLD)]
    outputs = [worker.communicate(timeout=240)[0] for worker in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output
    with np.load(out) as saved:
        return dict(saved)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    process = ServerProcess(tmp_path_factory.mktemp("data-parallel")).start()
    yield process
    process.kill()


@pytest.mark.load
@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", ["dense", "sparse-mean", "sparse-sum"])
def test_four_remote_workers_train_as_four_ddp_workers(server: ServerProcess, tmp_path: pathlib.Path,
                                                       kind: str) -> None:
    """Adam for the MLP; for the embedding the lazy Adam that sparse rows get, which is
    SparseAdam (at a constant LR: SparseAdam under a scheduler is not the point here)."""
    with lrctl.Client(server.address) as client:
        client.create_job(f"data-parallel-{kind}", POLICY if kind == "dense" else {"lr": POLICY["lr"]},
                          optimizer={"adam": {}, "workers": WORLD,
                                     "gradient_reduction": "sum" if kind == "sparse-sum" else "mean"})
    ddp = run("ddp", kind, str(tmp_path / "ddp-init"), tmp_path / "ddp.npz")
    remote = run("lrctl", kind, server.address, tmp_path / "lrctl.npz")
    np.testing.assert_allclose(remote["lrs"], ddp["lrs"], rtol=1e-12)
    names = sorted(set(ddp) - {"lrs"})
    assert names and names == sorted(set(remote) - {"lrs"})
    for name in names:
        np.testing.assert_allclose(remote[name], ddp[name], rtol=1e-5, atol=1e-7, err_msg=name)
