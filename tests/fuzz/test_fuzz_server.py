"""Fuzzing a running server: random and mutated requests for every Controller and Optimizer
RPC, mutated serialized bytes, and random chunk streams for UploadParameters and Step.

Per call (tests/fuzz/_harness.py): a status within the deadline, never UNKNOWN or INTERNAL
(bytes that do not decode are INVALID_ARGUMENT), the server stays SERVING, and a call that did not
return OK changed no fixture job. Examples are derandomized, so a run is reproducible;
server state carries over from example to example, which is the point (a step taken by
one example is the state the next one attacks), so shrinking is off: a failure message
holds the whole request instead.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
import pytest
from google.protobuf.descriptor import Descriptor
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from lrctl.optimizer import to_optimizer_spec
from lrctl.policy import to_policy
from lrctl.v1 import controller_pb2, optimizer_pb2
from tests.fuzz import _strategies as fs
from tests.fuzz._harness import FIXTURES, METHODS, SCRATCH, Harness, decodes

FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=False, report_multiple_bugs=False,
                phases=(Phase.explicit, Phase.generate),
                suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture))

VALID_POLICIES = [to_policy(p) for p in (
    {"lr": 0.1},
    {"lr": 0.05, "warmup": {"steps": 10, "start_factor": 0.1, "mode": "exponential"},
     "schedule": {"cosine": {"t_max": 100, "eta_min": 1e-4}}},
    {"lr": 0.1, "schedule": {"cosine_restarts": {"t_0": 3, "t_mult": 1.3, "peak_decay": 0.9}},
     "plateau": {"metric": "val_loss", "mode": "max", "threshold_mode": "abs", "cooldown": 2}},
    {"lr": 0.1, "schedule": {"piecewise": {"boundaries": [5, 10], "factors": [1, 0.5, 0.1],
                                           "interpolation": "linear"}}, "steps_per_epoch": 3},
    {"lr": 0.1, "schedule": {"one_cycle": {"total_steps": 50, "three_phase": True, "anneal_strategy": "linear"}},
     "early_stopping": {"metric": "acc", "mode": "max", "baseline": 0.9, "start_step": 2}},
    {"lr": 1.0, "schedule": {"exponential": {"k": 0.01}}, "min_lr": 0.2, "max_lr": 0.8,
     "on_nonfinite_metric": "skip"},
)]
VALID_OPTIMIZERS = [{"adam": {}}, {"sgd": {"momentum": 0.5}}, {"adagrad": {"lr_decay": 0.1}},
                    {"rmsprop": {"centered": True}}, {"adamw": {"amsgrad": True}, "global_clipnorm": 1.0}]
DATA_PLANE = tuple(job_id for job_id, f in FIXTURES.items() if f.optimizer is not None)
EXISTING = (*FIXTURES, *SCRATCH)
SINGLE_MESSAGE = sorted(name for name, m in METHODS.items() if not m.client_streaming and name != "WatchJob")
CLIENT_STREAM = sorted(name for name, m in METHODS.items() if m.client_streaming)

# Random gradients include values beyond float32 on purpose: they arrive as inf.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")


@functools.cache
def _random(descriptor: Descriptor, method: str, max_fields: int | None = None) -> st.SearchStrategy:
    """Random messages of `descriptor`'s type for `method`'s requests: job ids mostly of jobs
    that exist (never a fixture for DeleteJob), tensor names mostly of the fixtures' tensors."""
    ids = fs.job_ids(SCRATCH) if method == "DeleteJob" else fs.job_ids(EXISTING)
    names = fs.weighted((2, st.sampled_from(("emb", "bias", "table", "w", "p", "q"))), (1, fs.texts))
    return fs.messages(descriptor, {"job_id": ids, "name": names}, max_fields)


def _chunks_for(draw: Callable, job_id: str, sparse_ok: bool) -> list[optimizer_pb2.TensorChunk]:
    layout = FIXTURES[job_id].layout if job_id in FIXTURES and FIXTURES[job_id].layout else {"x": (4, 3)}
    return draw(fs.valid_chunks(layout, sparse_ok))


def base_request(h: Harness, name: str, draw: Callable) -> Any:
    """A well-formed request for `name` aimed at the fixture jobs' current state (a list of
    messages for a client stream)."""
    c, o = controller_pb2, optimizer_pb2
    fixture = draw(st.sampled_from(tuple(FIXTURES)))
    plane = draw(st.sampled_from(DATA_PLANE))
    policy = draw(st.sampled_from(VALID_POLICIES))
    reported = h.last_report_step(fixture)
    if name == "CreateJob":
        spec = c.JobSpec(policy=policy, labels=draw(st.dictionaries(fs.texts, fs.texts, max_size=3)))
        if draw(st.booleans()):
            spec.optimizer.CopyFrom(to_optimizer_spec(draw(st.sampled_from(VALID_OPTIMIZERS))))
        job_id = draw(st.one_of(st.sampled_from(EXISTING), st.from_regex(r"fz-new-[a-z0-9]{1,8}", fullmatch=True)))
        return c.CreateJobRequest(job_id=job_id, spec=spec, idempotency_key=draw(fs.texts))
    if name in ("GetJob", "ClearOverride", "ExportJob"):
        return _simple(name, job_id=fixture)
    if name == "DeleteJob":
        return c.DeleteJobRequest(job_id=draw(st.sampled_from(SCRATCH)))
    if name == "ListJobs":
        return c.ListJobsRequest(page_size=draw(st.integers(0, 1001)), page_token=draw(st.sampled_from(
            ("", "ZnotYQ==", "Zno", "Zno=", "fz-const", "ZnotY29uc3Q="))))
    if name == "UpdatePolicy":
        version = controller_pb2.Job.FromString(h.state[fixture][0]).policy_version
        return c.UpdatePolicyRequest(job_id=fixture, policy=policy, expected_policy_version=draw(fs.near(version)),
                                     reason=draw(fs.texts))
    if name == "GetLearningRate":
        return c.GetLearningRateRequest(job_id=fixture, step=draw(fs.near(reported)),
                                        horizon=draw(fs.weighted((2, st.integers(0, 1000)), (1, fs.uint32s))))
    if name == "ReportMetrics":
        return c.ReportMetricsRequest(job_id=fixture, step=draw(fs.near(reported)), metrics=draw(fs.metric_maps))
    if name == "SetOverride":
        override = c.Override(until_step=draw(fs.near(reported)), reason=draw(fs.texts))
        setattr(override, draw(st.sampled_from(("lr", "scale"))), draw(fs.floats))
        return c.SetOverrideRequest(job_id=fixture, override=override)
    if name in ("ListJobEvents", "WatchJob"):
        version = controller_pb2.Job.FromString(h.state[fixture][0]).version
        return _simple(name, job_id=fixture, since_version=draw(fs.near(version)))
    if name == "PreviewSchedule":
        points = [c.MetricsAtStep(step=s, metrics=m) for s, m in draw(st.lists(st.tuples(
            fs.uint64s, fs.metric_maps), max_size=4))]
        return c.PreviewScheduleRequest(policy=policy, steps=draw(fs.weighted((2, st.integers(0, 300)), (1, fs.uint32s))),
                                        metrics=points)
    if name == "PullParameters":
        return o.PullParametersRequest(job_id=plane, dtype=draw(st.integers(0, 4)),
                                       chunk_bytes=draw(fs.weighted((2, st.integers(0, 64)), (1, fs.uint32s))))
    if name == "PullRows":
        layout = FIXTURES[plane].layout or {}
        rows = draw(st.lists(fs.weighted((4, st.integers(0, 45)), (1, st.integers(-2**63, 2**63 - 1))), max_size=20))
        raw = np.array(rows, dtype="<i8").tobytes() + draw(fs.weighted((6, st.just(b"")), (1, st.binary(max_size=7))))
        return o.PullRowsRequest(job_id=plane, name=draw(st.sampled_from((*layout, "nope", ""))), rows=raw,
                                 dtype=draw(st.integers(0, 4)),
                                 chunk_bytes=draw(fs.weighted((2, st.integers(0, 64)), (1, fs.uint32s))))
    if name == "UploadParameters":
        return draw(fs.framed(o.UploadHeader(job_id=plane), _chunks_for(draw, plane, False),
                              o.UploadParametersRequest))
    if name == "Step":
        header = o.StepHeader(job_id=plane, step=draw(fs.near(h.server_step(plane))),
                              reply_mode=draw(st.integers(0, 4)), reply_dtype=draw(st.integers(0, 4)),
                              reply_chunk_bytes=draw(fs.weighted((2, st.sampled_from((0, 1, 2, 4, 1024))), (1, fs.uint32s))))
        return draw(fs.framed(header, _chunks_for(draw, plane, True), o.StepRequest))
    if name == "ImportJob":
        size = draw(st.sampled_from((1000, 4096, 1 << 20)))
        pieces = [h.exported[i:i + size] for i in range(0, len(h.exported), size)]
        job_id = draw(st.one_of(st.just(""), st.sampled_from(EXISTING), st.from_regex(r"fz-imp-[0-9]{1,6}",
                                                                                      fullmatch=True)))
        return [o.ImportJobRequest(header=o.ImportHeader(job_id=job_id)), *(o.ImportJobRequest(data=p)
                                                                             for p in pieces)]
    raise AssertionError(f"no base request for {name}")


def _simple(name: str, **fields: Any) -> Any:
    return GetMessageClass(METHODS[name].input_type)(**fields)


def _overlaid(name: str, message: Any, draw: Callable) -> Any:
    """`message` with a few of its fields (at any depth) replaced by random values."""
    patch = draw(_random(message.DESCRIPTOR, name, 2))
    if name == "DeleteJob" and patch.job_id in FIXTURES:
        return message
    out = type(message)()
    out.CopyFrom(message)
    out.MergeFrom(patch)
    return out


def _request(h: Harness, name: str, data: st.DataObject) -> Any:
    """A valid request, a valid one with random fields overlaid, or an entirely random one."""
    draw = data.draw
    kind = draw(st.sampled_from(("base", "overlaid", "overlaid", "random")))
    method = METHODS[name]
    if kind == "random":
        one = _random(method.input_type, name)
        return draw(st.lists(one, max_size=6)) if method.client_streaming else draw(one)
    base = base_request(h, name, draw)
    if kind == "base":
        return base
    if method.client_streaming:
        picked = set(draw(st.lists(st.integers(0, len(base) - 1), min_size=1, max_size=2)) if base else ())
        return [_overlaid(name, m, draw) if i in picked else m for i, m in enumerate(base)]
    return _overlaid(name, base, draw)


@settings(FUZZ, max_examples=500)
@given(data=st.data())
def test_random_requests_to_single_message_rpcs(harness: Harness, data: st.DataObject) -> None:
    """Unary and server-streaming RPCs with valid, overlaid and random requests."""
    name = data.draw(st.sampled_from(SINGLE_MESSAGE), label="method")
    harness.check(METHODS[name], _request(harness, name, data))


@settings(FUZZ, max_examples=200)
@given(data=st.data())
def test_random_client_streams(harness: Harness, data: st.DataObject) -> None:
    """UploadParameters, Step and ImportJob with valid, overlaid and random message streams."""
    name = data.draw(st.sampled_from(CLIENT_STREAM), label="method")
    harness.check(METHODS[name], _request(harness, name, data))


@settings(FUZZ, max_examples=15)
@given(data=st.data())
def test_watch(harness: Harness, data: st.DataObject) -> None:
    """WatchJob streams stored events and then waits: it ends by its deadline (or NOT_FOUND)."""
    harness.check(METHODS["WatchJob"], _request(harness, "WatchJob", data))


@settings(FUZZ, max_examples=350)
@given(data=st.data())
def test_chunk_streams(harness: Harness, data: st.DataObject) -> None:
    """Upload and Step streams with chunks dropped, repeated, reordered, misplaced headers,
    overruns, wrong dtypes and shapes, rows out of range, truncated, empty or oversized data."""
    draw = data.draw
    job_id = draw(st.sampled_from(DATA_PLANE), label="job")
    layout = FIXTURES[job_id].layout
    step = draw(st.booleans(), label="step (else upload)")
    chunks = draw(fs.edited_chunks(draw(fs.valid_chunks(layout, sparse_ok=step)), layout))
    if step:
        header = optimizer_pb2.StepHeader(
            job_id=job_id, step=draw(fs.near(harness.server_step(job_id))), reply_mode=draw(st.integers(0, 4)),
            reply_dtype=draw(st.integers(0, 4)), reply_chunk_bytes=draw(st.sampled_from((0, 3, 4, 100, 4 << 20))))
        requests = draw(fs.framed(header, chunks, optimizer_pb2.StepRequest))
    else:
        requests = draw(fs.framed(optimizer_pb2.UploadHeader(job_id=job_id), chunks,
                                  optimizer_pb2.UploadParametersRequest))
    harness.check(METHODS["Step" if step else "UploadParameters"], requests)


@settings(FUZZ, max_examples=600)
@given(data=st.data())
def test_mutated_bytes(harness: Harness, data: st.DataObject) -> None:
    """Valid requests, serialized, then bit-flipped, cut, padded or replaced, sent as raw
    bytes to the real method path; when they no longer decode the answer is INVALID_ARGUMENT."""
    draw = data.draw
    name = draw(st.sampled_from(sorted(METHODS)), label="method")
    method = METHODS[name]
    base = base_request(harness, name, draw)
    if method.client_streaming:
        raw = [m.SerializeToString() for m in base]
        if draw(st.booleans(), label="trailing garbage (else mutated messages)"):
            raw.append(draw(fs.weighted((1, st.binary(min_size=1, max_size=16)), (1, st.binary(max_size=16).map(
                lambda tail: b"\x00" + tail)))))  # field number 0: never decodes
        else:
            for i in draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=2)) if raw else ():
                raw[i] = draw(fs.mutated_bytes(raw[i]))
    else:
        raw = draw(fs.mutated_bytes(base.SerializeToString()))
    if name == "DeleteJob" and any(_names_fixture(r) for r in (raw if isinstance(raw, list) else [raw])):
        return
    harness.check(method, raw, raw=True, decodes=decodes(method, raw))


def _names_fixture(raw: bytes) -> bool:
    try:
        return controller_pb2.DeleteJobRequest.FromString(raw).job_id in FIXTURES
    except Exception:  # noqa: BLE001 - undecodable bytes name nothing
        return False
