"""A real server with small limits, so every limit is reached in a few small calls."""
from __future__ import annotations

from typing import Iterator

import pytest

import lrctl
from tests.support.server_process import ServerProcess

MAX_JOBS = 3
MAX_ELEMENTS = 1000
MAX_STATE_BYTES = 40_000
MAX_CHUNK_BYTES = 4096
MAX_MESSAGE_BYTES = 200_000
MAX_WATCHERS = 2
MAX_METRICS = 4
SMALL_LIMITS = ["--max-jobs", str(MAX_JOBS), "--max-elements-per-job", str(MAX_ELEMENTS),
                "--max-optimizer-state-bytes", str(MAX_STATE_BYTES), "--max-chunk-bytes", str(MAX_CHUNK_BYTES),
                "--max-message-bytes", str(MAX_MESSAGE_BYTES), "--max-watchers-per-job", str(MAX_WATCHERS),
                "--max-metrics-per-report", str(MAX_METRICS)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Overrides the suite's server: this folder's modules each get one with SMALL_LIMITS."""
    process = ServerProcess(tmp_path_factory.mktemp("data"), SMALL_LIMITS).start()
    yield process
    process.kill()


@pytest.fixture
def no_jobs_left(client: lrctl.Client) -> Iterator[None]:
    """Each test leaves an empty server behind: the job and byte limits are shared by all jobs."""
    yield
    for job in list(client.jobs()):
        client.delete_job(job.job_id)


def exhausted(error: pytest.ExceptionInfo, *phrases: str) -> None:
    """The error is RESOURCE_EXHAUSTED and its message says every phrase (the limit, its flag)."""
    assert isinstance(error.value, lrctl.ResourceExhausted), error.value
    for phrase in phrases:
        assert phrase in error.value.message, error.value.message
