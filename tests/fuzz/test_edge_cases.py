"""Edge cases the fuzzer reaches only by luck, tried one by one on the fuzz server: every
integer field of the requests at its boundaries, and a complete client stream followed by
bytes that do not decode. Same property as the fuzz tests (tests/fuzz/_harness.py)."""
from __future__ import annotations

import math
import zlib
from typing import Any, Iterator

import grpc
import numpy as np
import pytest
from google.protobuf.descriptor import FieldDescriptor

import lrctl
from lrctl.optimizer import to_optimizer_spec
from lrctl.policy import to_policy
from lrctl.v1 import controller_pb2, optimizer_pb2
from tests.fuzz import _strategies as fs
from tests.fuzz._harness import FIXTURES, METHODS, Harness


# ---- every integer field at its boundaries ----------------------------------------------
BOUNDARIES = {FieldDescriptor.TYPE_UINT64: (2**63 - 1, 2**63, 2**64 - 1), FieldDescriptor.TYPE_UINT32: (2**32 - 1,),
              FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1)}
SCHEDULE_POLICIES = {kind: to_policy({"lr": 0.1, "warmup": {"steps": 2}, "schedule": {kind: fields},
                                      "plateau": {"metric": "val_loss", "patience": 1, "cooldown": 1,
                                                  "increase_factor": 2.0, "increase_patience": 1},
                                      "early_stopping": {"metric": "val_loss", "patience": 2, "start_step": 1},
                                      "steps_per_epoch": 2})
                     for kind, fields in (("step", {"step_size": 3}), ("multistep", {"milestones": [2, 4]}),
                                          ("piecewise", {"boundaries": [2], "factors": [1, 0.5]}),
                                          ("polynomial", {"total_iters": 4}), ("linear", {"total_iters": 4}),
                                          ("cosine", {"t_max": 4}), ("one_cycle", {"total_steps": 10}),
                                          ("cosine_restarts", {"t_0": 3, "t_mult": 1.5}))}


def boundary_base(h: Harness | None, key: str) -> Any:
    """A valid request (a list for a client stream) whose integer fields the boundary test
    sets one at a time; `h` None gives its shape only (steps taken as 0)."""
    c, o = controller_pb2, optimizer_pb2
    reported = h.last_report_step("fz-plateau") if h else 0
    name, _, kind = key.partition(":")
    if name == "PreviewSchedule":
        return c.PreviewScheduleRequest(policy=SCHEDULE_POLICIES[kind], steps=50,
                                        metrics=[c.MetricsAtStep(step=3, metrics={"val_loss": 1.0})])
    if name == "CreateJob":
        return c.CreateJobRequest(job_id="fz-boundary", spec=c.JobSpec(
            policy=SCHEDULE_POLICIES[kind], optimizer=to_optimizer_spec({"adam": {}, "snapshot_every_steps": 5})))
    if name in ("Step", "UploadParameters"):
        job_id = "fz-adam" if name == "Step" else "fz-fresh"
        layout = FIXTURES[job_id].layout
        chunks = [o.TensorChunk(name=n, shape=shape, dtype=fs.F32, data=bytes(4 * math.prod(shape)))
                  for n, shape in layout.items()]
        if name == "UploadParameters":
            return [o.UploadParametersRequest(header=o.UploadHeader(job_id=job_id)),
                    *(o.UploadParametersRequest(chunk=chunk) for chunk in chunks)]
        header = o.StepHeader(job_id=job_id, step=h.server_step(job_id) if h else 0, reply_chunk_bytes=1024)
        return [o.StepRequest(header=header), *(o.StepRequest(chunk=chunk) for chunk in chunks)]
    return {
        "GetLearningRate": lambda: c.GetLearningRateRequest(job_id="fz-plateau", step=reported, horizon=10),
        "ReportMetrics": lambda: c.ReportMetricsRequest(job_id="fz-plateau", step=reported + 1,
                                                        metrics={"val_loss": 0.5}),
        "SetOverride": lambda: c.SetOverrideRequest(job_id="fz-const", override=c.Override(scale=0.5, until_step=9)),
        "UpdatePolicy": lambda: c.UpdatePolicyRequest(job_id="fz-const", policy=to_policy({"lr": 0.1})),
        "ListJobEvents": lambda: c.ListJobEventsRequest(job_id="fz-plateau", page_size=10),
        "WatchJob": lambda: c.WatchJobRequest(job_id="fz-plateau"),
        "ListJobs": lambda: c.ListJobsRequest(page_size=10),
        "PullParameters": lambda: o.PullParametersRequest(job_id="fz-adam", dtype=fs.F32, chunk_bytes=1024),
        "PullRows": lambda: o.PullRowsRequest(job_id="fz-adam", name="emb", rows=bytes(8), dtype=fs.F32,
                                              chunk_bytes=1024),
        "ExportJob": lambda: o.ExportJobRequest(job_id="fz-adam", chunk_bytes=1024),
    }[name]()


def _integer_fields(message: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], int]]:
    """(path, type) of every integer field of `message` and of its set submessages."""
    for field in message.DESCRIPTOR.fields:
        if field.type in BOUNDARIES:
            yield (*path, field.name), field.type
        elif field.message_type is not None and not field.is_repeated and message.HasField(field.name):
            yield from _integer_fields(getattr(message, field.name), (*path, field.name))
        elif (field.message_type is not None and field.is_repeated and not field.message_type.GetOptions().map_entry
              and len(getattr(message, field.name))):
            yield from _integer_fields(getattr(message, field.name)[0], (*path, f"{field.name}[0]"))


def _boundary_cases() -> Iterator[Any]:
    keys = [*(f"PreviewSchedule:{k}" for k in SCHEDULE_POLICIES), "CreateJob:cosine_restarts", "Step",
            "UploadParameters", "GetLearningRate", "ReportMetrics", "SetOverride", "UpdatePolicy", "ListJobEvents",
            "WatchJob", "ListJobs", "PullParameters", "PullRows", "ExportJob"]
    for key in keys:
        base = boundary_base(None, key)
        for index, message in enumerate(base if isinstance(base, list) else [base]):
            kind = message.WhichOneof("kind") if "kind" in message.DESCRIPTOR.oneofs_by_name else None
            for path, field_type in _integer_fields(getattr(message, kind) if kind else message):
                for value in BOUNDARIES[field_type]:
                    label = f"{key}[{index}].{'.'.join(path)}={value}"
                    yield pytest.param(key, index, (kind, *path) if kind else path, value, id=label)


def _set_path(message: Any, path: tuple[str, ...], value: int) -> None:
    for part in path[:-1]:
        name, _, index = part.partition("[")
        message = getattr(message, name)[int(index[:-1])] if index else getattr(message, name)
    field = message.DESCRIPTOR.fields_by_name[path[-1]]
    if field.is_repeated:
        getattr(message, path[-1])[:] = [value]
    else:
        setattr(message, path[-1], value)


@pytest.mark.parametrize("key, index, path, value", list(_boundary_cases()))
def test_integer_boundaries(harness: Harness, key: str, index: int, path: tuple[str, ...], value: int) -> None:
    """Steps, versions, sizes and policy lengths at 2^32 - 1, 2^63 - 1, 2^63 and 2^64 - 1 (and int64's ends),
    one field at a time in an otherwise valid request: a precise status, never UNKNOWN."""
    base = boundary_base(harness, key)
    messages = base if isinstance(base, list) else [base]
    _set_path(messages[index], path, value)
    if key.startswith("CreateJob"):
        messages[0].job_id = f"fz-boundary-{zlib.crc32(repr((path, value)).encode())}"
    name = key.partition(":")[0]
    harness.check(METHODS[name], messages if METHODS[name].client_streaming else messages[0])


# ---- a complete client stream, then bytes that do not decode -----------------------------
UNDECODABLE = b"\x00\x01"
"""Field number 0: no message decodes it, so the call is refused before any handler sees it."""


@pytest.mark.parametrize("name", ["Step", "UploadParameters", "ImportJob"])
def test_undecodable_trailing_message_changes_nothing(harness: Harness, name: str) -> None:
    """A stream whose last message does not decode is refused (INVALID_ARGUMENT) when that
    message is read: the complete request before it must not be applied (a Step, an upload,
    an import) behind the client's back."""
    o = optimizer_pb2
    job_id = f"fz-trailing-{name.lower()}"
    layout = {"w": (3, 4)}
    if name != "ImportJob":
        job = harness.client.create_job(job_id, {"lr": 0.1}, optimizer={"sgd": {}})
    if name == "Step":
        job.init_params({"w": np.ones(layout["w"], np.float32)})
        requests = [o.StepRequest(header=o.StepHeader(job_id=job_id, step=0))]
    elif name == "UploadParameters":
        requests = [o.UploadParametersRequest(header=o.UploadHeader(job_id=job_id))]
    else:
        requests = [o.ImportJobRequest(header=o.ImportHeader(job_id=job_id)), o.ImportJobRequest(data=harness.exported)]
    if name != "ImportJob":
        chunk = o.TensorChunk(name="w", shape=layout["w"], dtype=fs.F32, data=np.ones(12, "<f4").tobytes())
        requests.append(type(requests[0])(chunk=chunk))
    raw = [m.SerializeToString() for m in requests] + [UNDECODABLE]
    assert harness.check(METHODS[name], raw, raw=True, decodes=False) is grpc.StatusCode.INVALID_ARGUMENT
    if name == "ImportJob":
        with pytest.raises(lrctl.NotFound):
            harness.client.get_job(job_id)
    elif name == "Step":
        assert job.pull().step == 0
    else:
        with pytest.raises(lrctl.FailedPrecondition):
            job.pull()
