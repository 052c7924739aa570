"""The first Step after a fresh install: the kernels are built in the background from start,
the Optimizer service says NOT_SERVING on the health service until they are, and a Step that
arrives first waits for them without failing on the SDK's default deadline (past it, the
server answers UNAVAILABLE and the SDK retries with a fresh deadline)."""
from __future__ import annotations

import time

import numpy as np
import pytest
from grpc_health.v1 import health_pb2

import lrctl
from tests.support.server_process import ServerProcess

OPTIMIZER = "lrctl.v1.Optimizer"


@pytest.mark.load
@pytest.mark.timeout(180)
def test_a_first_step_on_an_empty_kernel_cache_waits_for_the_build(tmp_path) -> None:
    started = time.monotonic()
    server = ServerProcess(tmp_path / "data", env={"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}).start()
    try:
        serving_after = time.monotonic() - started
        building = server.health(OPTIMIZER)
        with lrctl.Client(server.address) as client:  # the default 10 s deadline
            assert client.echo(b"control plane") == b"control plane"
            job = client.create_job("first", {"lr": 0.1}, optimizer={"adam": {}})
            job.init_params({"w": np.ones(1000, np.float32)})
            result = job.step(0, {"w": np.ones(1000, np.float32)})
            assert result.params["w"].shape == (1000,) and not result.duplicate
        assert server.health(OPTIMIZER) == health_pb2.HealthCheckResponse.SERVING
        assert server.health("") == health_pb2.HealthCheckResponse.SERVING
        assert building == health_pb2.HealthCheckResponse.NOT_SERVING, "the build was still running at start"
        assert serving_after < 10, f"serving after {serving_after:.1f} s: the build must not hold up start"
    finally:
        server.kill()
