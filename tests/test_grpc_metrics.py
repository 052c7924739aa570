"""GrpcMetricsInterceptor against a real grpc.aio server on loopback, and the bounded job
labels of ServerMetrics, read back from the registry they feed.

The server uses grpc's generic handler API with bytes in and out, so nothing here depends on
the lrctl protos. Each test gets a ServerMetrics of its own, so counts are exact.
"""
from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
import uuid

import grpc
import pytest

from lrctl.server.grpc_metrics import GrpcMetricsInterceptor
from lrctl.server.metrics import EVENT_COUNTER_NAMES, JobLabels, ServerMetrics


def _ident(b: bytes) -> bytes:
    return b


async def _echo(request, context):
    return request


async def _not_found(request, context):
    await context.abort(grpc.StatusCode.NOT_FOUND, "no such job")


async def _raises(request, context):
    raise RuntimeError("bug in handler")


async def _set_code(request, context):
    context.set_code(grpc.StatusCode.FAILED_PRECONDITION)
    context.set_details("stale step")
    return b""


async def _three(request, context):
    for i in range(3):
        yield request + bytes([i])


async def _written(request, context):
    """A response stream written with context.write, as grpc_health's Watch does."""
    for i in range(2):
        await context.write(request + bytes([i]))


async def _abort_after_one(request, context):
    yield request
    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many")


async def _endless(request, context):
    while True:
        yield request
        await asyncio.sleep(0.01)


async def _bidi_echo(requests, context):
    async for r in requests:
        yield r


async def _concat(requests, context):
    return b"".join([r async for r in requests])


_HANDLERS = {
    "Echo": grpc.unary_unary_rpc_method_handler(_echo, _ident, _ident),
    "NotFound": grpc.unary_unary_rpc_method_handler(_not_found, _ident, _ident),
    "Raises": grpc.unary_unary_rpc_method_handler(_raises, _ident, _ident),
    "SetCode": grpc.unary_unary_rpc_method_handler(_set_code, _ident, _ident),
    "Three": grpc.unary_stream_rpc_method_handler(_three, _ident, _ident),
    "Written": grpc.unary_stream_rpc_method_handler(_written, _ident, _ident),
    "AbortAfterOne": grpc.unary_stream_rpc_method_handler(_abort_after_one, _ident, _ident),
    "Endless": grpc.unary_stream_rpc_method_handler(_endless, _ident, _ident),
    "BidiEcho": grpc.stream_stream_rpc_method_handler(_bidi_echo, _ident, _ident),
    "Concat": grpc.stream_unary_rpc_method_handler(_concat, _ident, _ident),
}
SERVICE = "lrctl.test.Echo"


class _AioServer:
    """A grpc.aio server with the interceptor, on an event loop of its own thread."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.server, self.port = asyncio.run_coroutine_threadsafe(self._start(metrics), self.loop).result(10)

    async def _start(self, metrics: ServerMetrics):
        server = grpc.aio.server(interceptors=[GrpcMetricsInterceptor(metrics)])
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, _HANDLERS),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(None), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture
def metrics() -> ServerMetrics:
    return ServerMetrics()


@pytest.fixture
def served(metrics):
    """(channel, service name) for a fresh server with the interceptor."""
    server = _AioServer(metrics)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield channel, SERVICE
    finally:
        channel.close()
        server.stop()


@pytest.fixture
def _value(metrics):
    def value(name: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(name, labels) or 0.0
    return value


def _series(service: str, method: str, kind: str) -> dict[str, str]:
    return {"grpc_type": kind, "grpc_service": service, "grpc_method": method}


@pytest.fixture
def _counts(_value):
    def counts(service: str, method: str, kind: str, code: str) -> dict[str, float]:
        """The method's counts once every call it started has been recorded as finished (the
        client can see a call's status a moment before the server's interceptor records it)."""
        deadline = time.monotonic() + 5
        while True:
            found = _counted(_value, service, method, kind, code)
            if found["timed"] >= found["started"] or time.monotonic() > deadline:
                return found
            time.sleep(0.01)
    return counts


def _counted(_value, service: str, method: str, kind: str, code: str) -> dict[str, float]:
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


def test_unary_ok(served, _counts, _value):
    channel, service = served
    assert _call(channel, service, "Echo", "unary")(b"hi", timeout=5) == b"hi"
    assert _counts(service, "Echo", "unary", "OK") == {
        "started": 1, "received": 1, "sent": 1, "handled": 1, "timed": 1}
    assert _value("grpc_server_handling_seconds_sum",
                  **_series(service, "Echo", "unary")) > 0


def test_unary_abort_counts_the_aborted_code(served, _counts, _value):
    channel, service = served
    with pytest.raises(grpc.RpcError) as err:
        _call(channel, service, "NotFound", "unary")(b"x", timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert _counts(service, "NotFound", "unary", "NotFound") == {
        "started": 1, "received": 1, "sent": 0, "handled": 1, "timed": 1}
    assert _value("grpc_server_handled_total", grpc_code="OK",
                  **_series(service, "NotFound", "unary")) == 0


def test_unary_exception_is_unknown_and_set_code_is_kept(served, _counts):
    channel, service = served
    for method, code, label in (("Raises", grpc.StatusCode.UNKNOWN, "Unknown"),
                                ("SetCode", grpc.StatusCode.FAILED_PRECONDITION,
                                 "FailedPrecondition")):
        with pytest.raises(grpc.RpcError) as err:
            _call(channel, service, method, "unary")(b"x", timeout=5)
        assert err.value.code() == code
        assert _counts(service, method, "unary", label)["handled"] == 1, method
        assert _counts(service, method, "unary", label)["sent"] == 0, method


def test_server_stream_counts_each_message(served, _counts):
    channel, service = served
    assert list(_call(channel, service, "Three", "server_stream")(b"a", timeout=5)) == [
        b"a\x00", b"a\x01", b"a\x02"]
    assert _counts(service, "Three", "server_stream", "OK") == {
        "started": 1, "received": 1, "sent": 3, "handled": 1, "timed": 1}


def test_server_stream_abort_midway(served, _counts):
    channel, service = served
    got = []
    with pytest.raises(grpc.RpcError) as err:
        for r in _call(channel, service, "AbortAfterOne", "server_stream")(b"a", timeout=5):
            got.append(r)
    assert got == [b"a"] and err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _counts(service, "AbortAfterOne", "server_stream", "ResourceExhausted") == {
        "started": 1, "received": 1, "sent": 1, "handled": 1, "timed": 1}


def test_server_stream_cancelled_by_client(served, _counts):
    channel, service = served
    call = _call(channel, service, "Endless", "server_stream")(b"a", timeout=5)
    next(call)
    call.cancel()
    deadline = time.monotonic() + 5
    while _counts(service, "Endless", "server_stream", "Canceled")["handled"] < 1:
        assert time.monotonic() < deadline, "cancelled stream never counted as Canceled"
        time.sleep(0.01)
    assert _counts(service, "Endless", "server_stream", "Canceled")["timed"] == 1


def test_bidi_stream(served, _counts):
    channel, service = served
    out = list(_call(channel, service, "BidiEcho", "bidi_stream")(
        iter([b"1", b"2", b"3", b"4"]), timeout=5))
    assert out == [b"1", b"2", b"3", b"4"]
    assert _counts(service, "BidiEcho", "bidi_stream", "OK") == {
        "started": 1, "received": 4, "sent": 4, "handled": 1, "timed": 1}


def test_client_stream(served, _counts):
    channel, service = served
    assert _call(channel, service, "Concat", "client_stream")(
        iter([b"a", b"b", b"c", b"d", b"e"]), timeout=5) == b"abcde"
    assert _counts(service, "Concat", "client_stream", "OK") == {
        "started": 1, "received": 5, "sent": 1, "handled": 1, "timed": 1}


def test_repeated_calls_reuse_the_wrapped_handler(served, _counts):
    channel, service = served
    echo = _call(channel, service, "Echo", "unary")
    for _ in range(20):
        echo(b"x", timeout=5)
    assert _counts(service, "Echo", "unary", "OK")["handled"] == 20


def test_a_written_stream_counts_each_write(served, _counts):
    channel, service = served
    assert list(_call(channel, service, "Written", "server_stream")(b"w", timeout=5)) == [b"w\x00", b"w\x01"]
    assert _counts(service, "Written", "server_stream", "OK") == {
        "started": 1, "received": 1, "sent": 2, "handled": 1, "timed": 1}


def test_metrics_endpoint_serves_the_registry(served, metrics):
    channel, service = served
    _call(channel, service, "Echo", "unary")(b"x", timeout=5)
    metrics.read_at_scrape(job_counts=lambda: {"active": 3})
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
    assert 'lrctl_jobs{state="active"} 3.0' in body


def test_two_servers_in_one_process_keep_their_own_numbers():
    first, second = ServerMetrics(), ServerMetrics()
    first.read_at_scrape(job_counts=lambda: {"active": 1})
    second.read_at_scrape(job_counts=lambda: {"active": 7})
    first.count_events("a", [("reduced", 1)])
    assert first.registry.get_sample_value("lrctl_jobs", {"state": "active"}) == 1
    assert second.registry.get_sample_value("lrctl_jobs", {"state": "active"}) == 7
    assert second.registry.get_sample_value("lrctl_plateau_reductions_total", {"job_id": "a"}) is None


def test_gauges_are_read_at_scrape_time():
    metrics = ServerMetrics()
    held = {"cpu": 10}
    metrics.read_at_scrape(device_memory=lambda: dict(held))
    assert metrics.registry.get_sample_value("lrctl_device_memory_bytes", {"device": "cpu"}) == 10
    held["cpu"] = 99
    assert metrics.registry.get_sample_value("lrctl_device_memory_bytes", {"device": "cpu"}) == 99


# --- bounded per-job labels -----------------------------------------------------------------

def test_jobs_beyond_the_cap_aggregate_under_other():
    metrics = ServerMetrics(job_label_cap=2)
    value = lambda name, **labels: metrics.registry.get_sample_value(name, labels)  # noqa: E731
    for job in ("a", "b", "c"):
        metrics.observe_learning_rate(job, step=10, lr=0.1)
        metrics.count_events(job, [("reduced", 1), ("override_set", 1), ("metrics", 1)])
    assert value("lrctl_learning_rate", job_id="a") == 0.1
    assert value("lrctl_job_step", job_id="b") == 10
    assert value("lrctl_learning_rate", job_id="c") is None
    assert value("lrctl_learning_rate", job_id="_other") is None
    assert value("lrctl_plateau_reductions_total", job_id="b") == 1
    assert value("lrctl_plateau_reductions_total", job_id="_other") == 1
    assert value("lrctl_job_labels") == 2

    metrics.job_deleted("a")
    for name in ("lrctl_learning_rate", "lrctl_plateau_reductions_total", "lrctl_overrides_total"):
        assert value(name, job_id="a") is None, name
    metrics.count_events("c", [("early_stop", 1)])
    assert value("lrctl_early_stops_total", job_id="c") == 1, "c takes the slot a freed"


def test_job_label_cap_is_validated():
    with pytest.raises(ValueError, match="Invalid job label cap: -1"):
        JobLabels(cap=-1)


def test_every_policy_event_kind_has_a_counter():
    policies = pytest.importorskip("lrctl.server.policies")
    assert set(policies.EVENT_KINDS) <= EVENT_COUNTER_NAMES.keys()


def test_repeated_kinds_count_each_time():
    metrics = ServerMetrics()
    metrics.count_events("n", [("nonfinite_metric", 3), ("nonfinite_gradient", 1)])
    metrics.count_event("n", "restart", times=5)
    assert metrics.registry.get_sample_value("lrctl_nonfinite_metrics_skipped_total", {"job_id": "n"}) == 3
    assert metrics.registry.get_sample_value("lrctl_nonfinite_gradients_skipped_total", {"job_id": "n"}) == 1
    assert metrics.registry.get_sample_value("lrctl_schedule_restarts_total", {"job_id": "n"}) == 5
