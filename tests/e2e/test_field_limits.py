"""Every string, map and repeated field a caller sends has a limit: over it, the call is
INVALID_ARGUMENT naming the field, the limit and the size, and nothing is stored. Listing
pages stop at a byte budget as well as a count, so large specs never make a page too large to
send. Against a real server."""
from __future__ import annotations

import time

import grpc
import pytest
from google.protobuf import json_format

from lrctl.v1 import controller_pb2, controller_pb2_grpc
from tests.support.server_process import ServerProcess

POLICY = {"lr": 0.1}


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory):
    server = ServerProcess(tmp_path_factory.mktemp("field-limits")).start()
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(server.address, options=options) as channel:
        yield controller_pb2_grpc.ControllerStub(channel)
    server.kill()


def refused(call, field: str, limit: str) -> None:
    with pytest.raises(grpc.RpcError) as error:
        call()
    details = error.value.details()
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, details
    assert details.startswith(field) and f": at most {limit}" in details, details


def spec(policy: dict = POLICY, labels: dict | None = None) -> controller_pb2.JobSpec:
    message = controller_pb2.JobSpec(labels=labels or {})
    json_format.ParseDict(policy, message.policy)
    return message


def create(stub, job_id: str, **fields) -> controller_pb2.Job:
    return stub.CreateJob(controller_pb2.CreateJobRequest(job_id=job_id, **fields), timeout=30)


@pytest.mark.parametrize("case", ["3 MB label", "65 labels", "long label key", "long idempotency key",
                                  "a million milestones"])
def test_an_oversized_create_is_refused_and_stores_nothing(stub, case: str) -> None:
    job_id = "oversized-" + case.replace(" ", "-")
    started = time.monotonic()
    if case == "3 MB label":
        refused(lambda: create(stub, job_id, spec=spec(labels={"k": "x" * (3 << 20)})), "spec.labels['k']",
                f"256 characters, got {3 << 20}")
    elif case == "65 labels":
        refused(lambda: create(stub, job_id, spec=spec(labels={f"k{n}": "v" for n in range(65)})), "spec.labels",
                "64 entries, got 65")
    elif case == "long label key":
        refused(lambda: create(stub, job_id, spec=spec(labels={"k" * 64: "v"})), "spec.labels['kkkk",
                "63 characters, got 64")
    elif case == "long idempotency key":
        refused(lambda: create(stub, job_id, spec=spec(), idempotency_key="i" * 129), "idempotency_key",
                "128 characters, got 129")
    else:
        milestones = {"lr": 0.1, "schedule": {"multistep": {"milestones": list(range(1, 1_000_001))}}}
        refused(lambda: create(stub, job_id, spec=spec(milestones)), "spec.policy.schedule.multistep.milestones",
                "10000 entries, got 1000000")
    assert time.monotonic() - started < 10
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetJob(controller_pb2.GetJobRequest(job_id=job_id), timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_oversized_reasons_are_refused(stub) -> None:
    create(stub, "reasons", spec=spec())
    refused(lambda: stub.SetOverride(controller_pb2.SetOverrideRequest(
        job_id="reasons", override=controller_pb2.Override(lr=0.5, reason="r" * (4 << 20))), timeout=10),
        "override.reason", f"1024 characters, got {4 << 20}")
    refused(lambda: stub.ClearOverride(controller_pb2.ClearOverrideRequest(job_id="reasons", reason="r" * 1025),
                                       timeout=10), "reason", "1024 characters, got 1025")
    refused(lambda: stub.UpdatePolicy(controller_pb2.UpdatePolicyRequest(
        job_id="reasons", policy=spec().policy, reason="r" * 2000), timeout=10), "reason", "1024 characters, got 2000")
    assert stub.GetJob(controller_pb2.GetJobRequest(job_id="reasons"), timeout=10).version == 1


def test_pages_of_large_jobs_stay_under_the_message_limit(stub) -> None:
    """40 jobs of ~150 KB each (64 long labels, 10,000 milestones): a page of 100 would be 6 MB."""
    big = spec({"lr": 0.1, "schedule": {"multistep": {"milestones": list(range(1, 10_001))}}},
               labels={f"label-{n}": "v" * 256 for n in range(64)})
    for n in range(40):
        create(stub, f"large-{n:02d}", spec=big)
    seen, token, pages = [], "", 0
    while True:
        page = stub.ListJobs(controller_pb2.ListJobsRequest(page_size=100, page_token=token), timeout=30)
        assert page.ByteSize() <= 2 << 20
        seen += [job.job_id for job in page.jobs]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert [job_id for job_id in seen if job_id.startswith("large-")] == [f"large-{n:02d}" for n in range(40)]
    assert pages > 1
