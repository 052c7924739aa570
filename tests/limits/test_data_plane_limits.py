"""Data-plane limits (DESIGN §6): elements per job, total bytes of parameters and optimizer
state, chunk size, and the size of an imported file. Each is RESOURCE_EXHAUSTED naming the
limit, and a refused upload, step or import changes nothing."""
from __future__ import annotations

import threading

import grpc
import numpy as np
import pytest

import lrctl
from lrctl.errors import from_rpc_error
from lrctl.v1 import optimizer_pb2, optimizer_pb2_grpc
from tests.dataplane import _raw
from tests.limits.conftest import MAX_CHUNK_BYTES, MAX_ELEMENTS, MAX_JOBS, MAX_STATE_BYTES, exhausted

pytestmark = pytest.mark.usefixtures("no_jobs_left")

POLICY = {"lr": 0.1}
ADAM_BYTES = 16
"""Bytes per element of an Adam job: parameters, gradient scratch, exp_avg, exp_avg_sq (float32)."""
CHUNK = {"chunk_bytes": MAX_CHUNK_BYTES}


def params(elements: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"w": rng.standard_normal(elements - 10).astype(np.float32),
            "b": rng.standard_normal(10).astype(np.float32)}


def adam_job(client: lrctl.Client, job_id: str, elements: int | None = None) -> lrctl.Job:
    job = client.create_job(job_id, POLICY, optimizer={"adam": {}})
    if elements:
        job.init_params(params(elements), **CHUNK)
    return job


def assert_unchanged(job: lrctl.Job, before: lrctl.Pulled) -> None:
    after = job.pull(**CHUNK)
    assert after.step == before.step
    for name, value in before.params.items():
        np.testing.assert_array_equal(after.params[name], value)


def assert_no_parameters(job: lrctl.Job) -> None:
    with pytest.raises(lrctl.FailedPrecondition, match="no parameters yet"):
        job.pull(**CHUNK)


def raw_upload(client: lrctl.Client, job_id: str, chunks: list[optimizer_pb2.TensorChunk]) -> None:
    requests = [optimizer_pb2.UploadParametersRequest(header=optimizer_pb2.UploadHeader(job_id=job_id))]
    requests += [optimizer_pb2.UploadParametersRequest(chunk=chunk) for chunk in chunks]
    try:
        optimizer_pb2_grpc.OptimizerStub(client.channel).UploadParameters(iter(requests), timeout=10)
    except grpc.RpcError as error:
        raise from_rpc_error(error) from None


def test_elements_per_job_limit_refuses_at_the_first_chunk_that_reveals_the_size(client: lrctl.Client) -> None:
    job = adam_job(client, "elements")
    with pytest.raises(lrctl.LrctlError) as error:
        job.init_params(params(MAX_ELEMENTS + 1), **CHUNK)
    exhausted(error, f"element limit exceeded: at least {MAX_ELEMENTS + 1} elements in one job",
              f"limit of {MAX_ELEMENTS} (--max-elements-per-job)")
    assert_no_parameters(job)
    # A first chunk declaring a tensor of 10^12 elements is refused before anything is allocated.
    with pytest.raises(lrctl.LrctlError) as error:
        raw_upload(client, "elements", [_raw.chunk("huge", (10**6, 10**6), [1.0])])
    exhausted(error, f"{10**12} elements in one job", "(--max-elements-per-job)")
    assert_no_parameters(job)

    job.init_params(params(MAX_ELEMENTS), **CHUNK)
    before = job.pull(**CHUNK)
    with pytest.raises(lrctl.ResourceExhausted):
        job.init_params(params(MAX_ELEMENTS + 1, seed=1), **CHUNK)
    assert_unchanged(job, before)


def test_state_bytes_limit_counts_every_job_a_reupload_counts_the_difference_and_delete_frees(
        client: lrctl.Client) -> None:
    a, b = adam_job(client, "a", MAX_ELEMENTS), adam_job(client, "b", MAX_ELEMENTS)
    c = adam_job(client, "c")
    with pytest.raises(lrctl.LrctlError) as error:
        c.init_params(params(MAX_ELEMENTS), **CHUNK)
    free = MAX_STATE_BYTES - 2 * MAX_ELEMENTS * ADAM_BYTES
    exhausted(error, "optimizer state limit reached: job 'c' needs at least",
              f"{free} of the limit of {MAX_STATE_BYTES} bytes are free for it (--max-optimizer-state-bytes)")
    assert_no_parameters(c)

    fits = free // ADAM_BYTES
    c.init_params(params(fits), **CHUNK)  # exactly the limit
    before_c = c.pull(**CHUNK)
    a.init_params(params(MAX_ELEMENTS, seed=2), **CHUNK)  # same size again: no new bytes needed
    with pytest.raises(lrctl.ResourceExhausted, match="optimizer state limit reached"):
        c.init_params(params(fits + 1, seed=3), **CHUNK)
    assert_unchanged(c, before_c)
    a.step(0, params(MAX_ELEMENTS, seed=4), reply="none", **CHUNK)

    client.delete_job(b.job_id)
    c.init_params(params(MAX_ELEMENTS), **CHUNK)


def test_concurrent_uploads_cannot_pass_the_state_limit_together(client: lrctl.Client) -> None:
    jobs = [adam_job(client, f"racer-{i}") for i in range(MAX_JOBS)]
    start, outcomes = threading.Barrier(len(jobs)), []

    def upload(job: lrctl.Job) -> None:
        start.wait()
        try:
            job.init_params(params(MAX_ELEMENTS), **CHUNK)
            outcomes.append("ok")
        except lrctl.ResourceExhausted:
            outcomes.append("refused")

    threads = [threading.Thread(target=upload, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["ok", "ok", "refused"]


def test_import_over_the_state_limit_creates_nothing(client: lrctl.Client, tmp_path) -> None:
    a = adam_job(client, "a", MAX_ELEMENTS)
    adam_job(client, "b", MAX_ELEMENTS)
    a.export(tmp_path / "a.npz", **CHUNK)
    with pytest.raises(lrctl.LrctlError) as error:
        client.import_job(tmp_path / "a.npz", "copy", **CHUNK)
    exhausted(error, "optimizer state limit reached: job 'copy'", "(--max-optimizer-state-bytes)")
    with pytest.raises(lrctl.NotFound):
        client.get_job("copy")

    client.delete_job("b")
    copy = client.import_job(tmp_path / "a.npz", "copy", **CHUNK)
    assert_unchanged(copy, a.pull(**CHUNK))


def test_an_imported_file_is_refused_as_soon_as_it_outgrows_what_the_limit_allows(client: lrctl.Client) -> None:
    """The stream never ends here: the answer must come while the client is still sending."""
    release = threading.Event()

    def requests():
        yield optimizer_pb2.ImportJobRequest(header=optimizer_pb2.ImportHeader(job_id="too-big"))
        for _ in range(MAX_STATE_BYTES // (64 << 10) + 18):  # free bytes + 1 MiB, and a bit
            yield optimizer_pb2.ImportJobRequest(data=b"\0" * (64 << 10))
        release.wait(30)

    stub = optimizer_pb2_grpc.OptimizerStub(client.channel)
    try:
        with pytest.raises(grpc.RpcError) as error:
            stub.ImportJob(requests(), timeout=10)
    finally:
        release.set()
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "import size limit exceeded" in error.value.details()
    assert "(--max-optimizer-state-bytes)" in error.value.details()
    with pytest.raises(lrctl.NotFound):
        client.get_job("too-big")


def test_chunk_size_limit_for_incoming_chunks_and_requested_reply_chunks(client: lrctl.Client,
                                                                         tmp_path) -> None:
    too_big = np.ones(MAX_CHUNK_BYTES // 4 + 1, np.float32)
    with pytest.raises(lrctl.LrctlError) as error:
        raw_upload(client, adam_job(client, "fresh").job_id, [_raw.chunk("w", too_big.shape, too_big)])
    exhausted(error, f"chunk size limit exceeded: chunks[w] holds {too_big.nbytes} data bytes",
              f"limit of {MAX_CHUNK_BYTES} bytes (--max-chunk-bytes)")
    assert_no_parameters(client.job("fresh"))

    job = adam_job(client, "chunks", 600)
    job.step(0, params(600, seed=1), **CHUNK)
    before = job.pull(**CHUNK)
    with pytest.raises(lrctl.ResourceExhausted, match=r"chunks\[w\] holds"):
        _raw.step(client, "chunks", 1, [_raw.chunk("w", (590,), b"\0" * 8192),
                                        _raw.chunk("b", (10,), np.ones(10))])
    assert_unchanged(job, before)

    big = 2 * MAX_CHUNK_BYTES
    with pytest.raises(lrctl.LrctlError) as error:
        job.step(1, params(600, seed=2), chunk_bytes=big)
    exhausted(error, f"chunk size limit exceeded: reply_chunk_bytes {big} is over the limit of {MAX_CHUNK_BYTES} "
                     "bytes (--max-chunk-bytes)")
    assert_unchanged(job, before)
    with pytest.raises(lrctl.LrctlError) as error:
        job.pull(chunk_bytes=big)
    exhausted(error, f"chunk_bytes {big} is over the limit", "(--max-chunk-bytes)")
    with pytest.raises(lrctl.LrctlError) as error:
        job.export(tmp_path / "x.npz", chunk_bytes=big)
    exhausted(error, f"chunk_bytes {big} is over the limit", "(--max-chunk-bytes)")

    unset = optimizer_pb2_grpc.OptimizerStub(client.channel).PullParameters(
        optimizer_pb2.PullParametersRequest(job_id="chunks"), timeout=10)
    sizes = [len(message.chunk.data) for message in unset if message.HasField("chunk")]
    assert sizes == [590 * 4, 10 * 4], "an unset chunk size means the default, capped by the limit"
    assert job.step(1, params(600, seed=2), **CHUNK).server_step == 2
