"""GrpcMetricsInterceptor against a real grpc server on loopback, and the bounded job labels
of metrics.py, read back from the registry they feed.

The server uses grpc's generic handler API with bytes in and out, so nothing here depends on
the lrctl protos. Each test serves a service name of its own, so counts are exact.
"""
from __future__ import annotations

import time
import urllib.request
import uuid
from concurrent import futures

import grpc
import pytest

from lrctl.server import metrics
from lrctl.server.grpc_metrics import GrpcMetricsInterceptor


def _ident(b: bytes) -> bytes:
    return b


def _echo(request, context):
    return request


def _not_found(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such job")


def _raises(request, context):
    raise RuntimeError("bug in handler")


def _set_code(request, context):
    context.set_code(grpc.StatusCode.FAILED_PRECONDITION)
    context.set_details("stale step")
    return b""


def _three(request, context):
    for i in range(3):
        yield request + bytes([i])


def _abort_after_one(request, context):
    yield request
    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many")


def _endless(request, context):
    while context.is_active():
        yield request
        time.sleep(0.01)


def _bidi_echo(requests, context):
    for r in requests:
        yield r


def _concat(requests, context):
    return b"".join(requests)


_HANDLERS = {
    "Echo": grpc.unary_unary_rpc_method_handler(_echo, _ident, _ident),
    "NotFound": grpc.unary_unary_rpc_method_handler(_not_found, _ident, _ident),
    "Raises": grpc.unary_unary_rpc_method_handler(_raises, _ident, _ident),
    "SetCode": grpc.unary_unary_rpc_method_handler(_set_code, _ident, _ident),
    "Three": grpc.unary_stream_rpc_method_handler(_three, _ident, _ident),
    "AbortAfterOne": grpc.unary_stream_rpc_method_handler(_abort_after_one, _ident, _ident),
    "Endless": grpc.unary_stream_rpc_method_handler(_endless, _ident, _ident),
    "BidiEcho": grpc.stream_stream_rpc_method_handler(_bidi_echo, _ident, _ident),
    "Concat": grpc.stream_unary_rpc_method_handler(_concat, _ident, _ident),
}


@pytest.fixture
def served():
    """(channel, service name) for a fresh server with the interceptor."""
    service = f"lrctl.test.Echo{uuid.uuid4().hex[:8]}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         interceptors=[GrpcMetricsInterceptor()])
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service, _HANDLERS),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel, service
    finally:
        channel.close()
        server.stop(None)


def _value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def _series(service: str, method: str, kind: str) -> dict[str, str]:
    return {"grpc_type": kind, "grpc_service": service, "grpc_method": method}


def _counts(service: str, method: str, kind: str, code: str) -> dict[str, float]:
    labels = _series(service, method, kind)
    return {
        "started": _value("grpc_server_started_total", **labels),
        "received": _value("grpc_server_msg_received_total", **labels),
        "sent": _value("grpc_server_msg_sent_total", **labels),
        "handled": _value("grpc_server_handled_total", grpc_code=code, **labels),
        "timed": _value("grpc_server_handling_seconds_count", **labels),
    }


def _call(channel, service: str, method: str, kind: str):
    factory = {"unary": channel.unary_unary, "server_stream": channel.unary_stream,
               "client_stream": channel.stream_unary, "bidi_stream": channel.stream_stream}[kind]
    return factory(f"/{service}/{method}", request_serializer=_ident,
                   response_deserializer=_ident)


def test_unary_ok(served):
    channel, service = served
    assert _call(channel, service, "Echo", "unary")(b"hi", timeout=5) == b"hi"
    assert _counts(service, "Echo", "unary", "OK") == {
        "started": 1, "received": 1, "sent": 1, "handled": 1, "timed": 1}
    assert _value("grpc_server_handling_seconds_sum",
                  **_series(service, "Echo", "unary")) > 0


def test_unary_abort_counts_the_aborted_code(served):
    channel, service = served
    with pytest.raises(grpc.RpcError) as err:
        _call(channel, service, "NotFound", "unary")(b"x", timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert _counts(service, "NotFound", "unary", "NotFound") == {
        "started": 1, "received": 1, "sent": 0, "handled": 1, "timed": 1}
    assert _value("grpc_server_handled_total", grpc_code="OK",
                  **_series(service, "NotFound", "unary")) == 0


def test_unary_exception_is_unknown_and_set_code_is_kept(served):
    channel, service = served
    for method, code, label in (("Raises", grpc.StatusCode.UNKNOWN, "Unknown"),
                                ("SetCode", grpc.StatusCode.FAILED_PRECONDITION,
                                 "FailedPrecondition")):
        with pytest.raises(grpc.RpcError) as err:
            _call(channel, service, method, "unary")(b"x", timeout=5)
        assert err.value.code() == code
        assert _counts(service, method, "unary", label)["handled"] == 1, method
        assert _counts(service, method, "unary", label)["sent"] == 0, method


def test_server_stream_counts_each_message(served):
    channel, service = served
    assert list(_call(channel, service, "Three", "server_stream")(b"a", timeout=5)) == [
        b"a\x00", b"a\x01", b"a\x02"]
    assert _counts(service, "Three", "server_stream", "OK") == {
        "started": 1, "received": 1, "sent": 3, "handled": 1, "timed": 1}


def test_server_stream_abort_midway(served):
    channel, service = served
    got = []
    with pytest.raises(grpc.RpcError) as err:
        for r in _call(channel, service, "AbortAfterOne", "server_stream")(b"a", timeout=5):
            got.append(r)
    assert got == [b"a"] and err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _counts(service, "AbortAfterOne", "server_stream", "ResourceExhausted") == {
        "started": 1, "received": 1, "sent": 1, "handled": 1, "timed": 1}


def test_server_stream_cancelled_by_client(served):
    channel, service = served
    call = _call(channel, service, "Endless", "server_stream")(b"a", timeout=5)
    next(call)
    call.cancel()
    deadline = time.monotonic() + 5
    while _counts(service, "Endless", "server_stream", "Canceled")["handled"] < 1:
        assert time.monotonic() < deadline, "cancelled stream never counted as Canceled"
        time.sleep(0.01)
    assert _counts(service, "Endless", "server_stream", "Canceled")["timed"] == 1


def test_bidi_stream(served):
    channel, service = served
    out = list(_call(channel, service, "BidiEcho", "bidi_stream")(
        iter([b"1", b"2", b"3", b"4"]), timeout=5))
    assert out == [b"1", b"2", b"3", b"4"]
    assert _counts(service, "BidiEcho", "bidi_stream", "OK") == {
        "started": 1, "received": 4, "sent": 4, "handled": 1, "timed": 1}


def test_client_stream(served):
    channel, service = served
    assert _call(channel, service, "Concat", "client_stream")(
        iter([b"a", b"b", b"c", b"d", b"e"]), timeout=5) == b"abcde"
    assert _counts(service, "Concat", "client_stream", "OK") == {
        "started": 1, "received": 5, "sent": 1, "handled": 1, "timed": 1}


def test_repeated_calls_reuse_the_wrapped_handler(served):
    channel, service = served
    echo = _call(channel, service, "Echo", "unary")
    for _ in range(20):
        echo(b"x", timeout=5)
    assert _counts(service, "Echo", "unary", "OK")["handled"] == 20


def test_metrics_endpoint_serves_the_registry(served):
    channel, service = served
    _call(channel, service, "Echo", "unary")(b"x", timeout=5)
    server, thread = metrics.start_http_server(0, "127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics",
                                    timeout=5) as resp:
            body = resp.read().decode()
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert (f'grpc_server_handled_total{{grpc_code="OK",grpc_method="Echo",'
            f'grpc_service="{service}",grpc_type="unary"}} 1.0') in body
    assert "lrctl_jobs" in body


# --- server/metrics.py: bounded per-job labels ---------------------------------------------

@pytest.fixture
def job_labels():
    """metrics.JOB_LABELS with a cap of 2, restored afterwards."""
    old_cap = metrics.JOB_LABELS.cap
    metrics.set_job_label_cap(len(metrics.JOB_LABELS) + 2)
    yield
    metrics.set_job_label_cap(old_cap)


def test_jobs_beyond_the_cap_aggregate_under_other(job_labels):
    tag = uuid.uuid4().hex[:8]
    a, b, c = (f"{tag}-{n}" for n in "abc")
    other_before = _value("lrctl_plateau_reductions_total", job_id="_other")
    for job in (a, b, c):
        metrics.observe_learning_rate(job, step=10, lr=0.1)
        metrics.count_events(job, ["reduced", "override_set", "metrics"])
    assert _value("lrctl_learning_rate", job_id=a) == 0.1
    assert _value("lrctl_job_step", job_id=b) == 10
    assert metrics.REGISTRY.get_sample_value("lrctl_learning_rate", {"job_id": c}) is None
    assert metrics.REGISTRY.get_sample_value("lrctl_learning_rate", {"job_id": "_other"}) is None
    assert _value("lrctl_plateau_reductions_total", job_id=b) == 1
    assert _value("lrctl_plateau_reductions_total", job_id="_other") == other_before + 1

    metrics.job_deleted(a)
    for name in ("lrctl_learning_rate", "lrctl_plateau_reductions_total", "lrctl_overrides_total"):
        assert metrics.REGISTRY.get_sample_value(name, {"job_id": a}) is None, name
    metrics.count_events(c, ["early_stop"])
    assert _value("lrctl_early_stops_total", job_id=c) == 1, "c takes the slot a freed"
    metrics.job_deleted(b)
    metrics.job_deleted(c)


def test_set_job_counts_zeroes_states_that_went_away():
    metrics.set_job_counts({"active": 3, "stopped": 1})
    metrics.set_job_counts({"active": 2})
    assert _value("lrctl_jobs", state="active") == 2
    assert metrics.REGISTRY.get_sample_value("lrctl_jobs", {"state": "stopped"}) == 0


def test_job_label_cap_is_validated():
    with pytest.raises(ValueError, match="Invalid job label cap: -1"):
        metrics.JobLabels(cap=-1)


def test_every_policy_event_kind_has_a_counter():
    policies = pytest.importorskip("lrctl.server.policies")
    assert set(policies.EVENT_KINDS) <= metrics.EVENT_COUNTERS.keys()


def test_repeated_kinds_count_each_time(job_labels):
    job = f"{uuid.uuid4().hex[:8]}-n"
    metrics.count_events(job, ["nonfinite_metric"] * 3 + ["nonfinite_gradient"])
    assert _value("lrctl_nonfinite_metrics_skipped_total", job_id=job) == 3
    assert _value("lrctl_nonfinite_gradients_skipped_total", job_id=job) == 1
    metrics.job_deleted(job)
