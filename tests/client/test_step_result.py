"""`job.step()` answers a StepResult, over a Job built on an explicit Transport."""
from __future__ import annotations

import grpc
import numpy as np
import pytest

import lrctl
from lrctl.channel import open_channel


def test_step_result_fields(client: lrctl.Client) -> None:
    job = client.create_job("result-fields", {"lr": 0.5}, optimizer={"sgd": {}})
    job.init_params({"w": np.ones(3, np.float32)})
    first = job.step(0, {"w": np.ones(3, np.float32)})
    assert (first.step, first.server_step, first.lr, first.skipped_nonfinite, first.duplicate) == (0, 1, 0.5, False,
                                                                                                 False)
    np.testing.assert_array_equal(first.params["w"], np.full(3, 0.5, np.float32))
    assert job.step(1, {"w": np.ones(3, np.float32)}, reply="none").params is None
    with pytest.warns(lrctl.NonFiniteGradientWarning, match="job 'result-fields': step 2 was skipped"):
        skipped = job.step(2, {"w": np.array([1, np.nan, 1], np.float32)})
    assert skipped.skipped_nonfinite and skipped.server_step == 3
    np.testing.assert_array_equal(skipped.params["w"], np.zeros(3, np.float32))
    with pytest.warns(lrctl.NonFiniteGradientWarning, match="step 3 was skipped"):
        job.step(3, {"w": np.array([np.inf, 1, 1], np.float32)})


def test_a_job_needs_only_a_transport(server) -> None:
    channel: grpc.Channel = open_channel(server.address)
    transport = lrctl.Transport(channel, timeout=5, target=server.address)
    try:
        with lrctl.Client(server.address) as admin:
            admin.create_job("transport-only", {"lr": 0.25})
        job = lrctl.Job(transport, "transport-only")
        assert job.lr(0) == 0.25 and job.info().job_id == "transport-only"
    finally:
        transport.close()
