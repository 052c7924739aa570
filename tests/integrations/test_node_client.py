"""The Node.js client example (examples/node, @grpc/grpc-js + @grpc/proto-loader loading
protos/ at run time) against a real server: it creates a job, reads LRs from a lease, reports
metrics and gets a typed error, and sees exactly what the Python SDK sees."""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest

import lrctl
from tests.support.server_process import ServerProcess

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "node"


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with the example's npm packages installed (by .ci/install-tools, or here)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the Node.js client example (not found on PATH)")
    if not (EXAMPLE / "node_modules" / "@grpc" / "grpc-js").is_dir():
        installed = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=EXAMPLE, capture_output=True,
                                   text=True, timeout=300)
        assert installed.returncode == 0, installed.stdout + installed.stderr
    return node


def test_node_client_creates_reads_leases_and_reports(node: str, server: ServerProcess,
                                                      client: lrctl.Client) -> None:
    run = subprocess.run([node, str(EXAMPLE / "client.js"), server.address, "node-example"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    seen = json.loads(run.stdout)
    assert seen["job_id"] == "node-example" and seen["has_token"]
    job = client.job("node-example")
    assert seen["lrs"] == [job.lr(step) for step in range(60)], "the same LR at every step as the Python SDK"
    assert seen["rpcs"] == 3, "one GetLearningRate per lease: at the start and after each report that changed the job"
    assert [d["step"] for d in seen["decisions"]] == [20, 40, 60]
    assert [d["lr"] for d in seen["decisions"]] == [job.lr(20), job.lr(40), job.lr(60)]
    assert [d["events"] for d in seen["decisions"]] == [[], ["EVENT_KIND_REDUCED"], ["EVENT_KIND_REDUCED"]]
    assert seen["missing"] == "NOT_FOUND"
    assert job.info().last_report_step == 60
    assert [e.kind for e in job.events() if e.kind == "reduced"] == ["reduced", "reduced"]
