"""Channel construction: retries of idempotent RPCs live in the gRPC service config.

Retrying is safe exactly for the calls the server makes idempotent: reads,
GetLearningRate (same step, same LR), ReportMetrics (idempotent on job, step, metric)
and CreateJob (the SDK always sends an idempotency key). Operator changes
(UpdatePolicy, overrides, DeleteJob) are not retried. The data plane's streams are far
larger than gRPC's retry buffer, so the SDK retries those itself (`retried`), with the
same policy: Step (exactly once per step), UploadParameters (allowed again until the first
step), PullParameters and ExportJob. ImportJob creates a job and is not retried.

A bearer token travels as `authorization: Bearer <token>` metadata that an interceptor adds
to every call, streams included, over TLS and plaintext alike (gRPC's own call credentials
refuse plaintext channels, and a token on a loopback server without TLS is legitimate).
"""
from __future__ import annotations

import collections
import json
import pathlib
import re
import time
from typing import Any, Callable, TypeVar

import grpc

from lrctl.errors import Unavailable

T = TypeVar("T")

RETRIED_METHODS = ("GetJob", "ListJobs", "GetLearningRate", "ReportMetrics", "CreateJob",
                   "ListJobEvents", "PreviewSchedule")
RETRY_ATTEMPTS = 5
RETRY_FIRST_BACKOFF = 0.05
RETRY_MAX_BACKOFF = 2.0
RETRY_MULTIPLIER = 2

LOAD_BALANCING_CONFIG = {"round_robin": {}, "pick_first": {"shuffleAddressList": True}}
LOAD_BALANCING_POLICIES = tuple(LOAD_BALANCING_CONFIG)
DEFAULT_LOAD_BALANCING = "round_robin"
"""gRPC's own policies over the addresses a target resolves to (several replicas):
round_robin spreads every client's calls over the connected replicas and leaves out one that
is down, so a retried call goes to another; pick_first (addresses shuffled, so clients spread
over the replicas) keeps one client on one replica until it fails, which keeps that
replica's cached view of the client's job warm."""

SERVICE_CONFIG = {
    "loadBalancingConfig": [{DEFAULT_LOAD_BALANCING: LOAD_BALANCING_CONFIG[DEFAULT_LOAD_BALANCING]}],
    "methodConfig": [{
        "name": [{"service": "lrctl.v1.Controller", "method": m} for m in RETRIED_METHODS],
        "retryPolicy": {
            "maxAttempts": RETRY_ATTEMPTS,
            "initialBackoff": f"{RETRY_FIRST_BACKOFF}s",
            "maxBackoff": f"{RETRY_MAX_BACKOFF}s",
            "backoffMultiplier": RETRY_MULTIPLIER,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }],
}


def retried(attempt: Callable[[], T]) -> T:
    """`attempt()`, run again on Unavailable with the service config's backoff; the last
    failure is raised."""
    backoff = RETRY_FIRST_BACKOFF
    for _ in range(RETRY_ATTEMPTS - 1):
        try:
            return attempt()
        except Unavailable:
            time.sleep(backoff)
            backoff = min(backoff * RETRY_MULTIPLIER, RETRY_MAX_BACKOFF)
    return attempt()


DEFAULT_PORT = 50051
_BARE_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.%]+\]")


def with_default_port(target: str) -> str:
    """`target` with lrctl's port added when it names a bare host ("127.0.0.1", "lrctl-0",
    "[::1]"), where gRPC would dial 443. Targets with a port or a scheme are left alone."""
    return f"{target}:{DEFAULT_PORT}" if _BARE_HOST.fullmatch(target) else target


MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_RECONNECT_BACKOFF_MS = 2000
"""gRPC waits up to 120 s between attempts to reach a server that was down; capped here, a
replica (or every replica, after an outage) is used again within 2 s of coming back."""
KEEPALIVE_SECONDS = 30
"""Ping an idle connection this often, so a watch on a vanished server fails instead of
hanging; the server accepts pings every 10 s or slower."""


class _CallDetails(collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
        grpc.ClientCallDetails):
    pass


class BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                  grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call."""

    def __init__(self, token: str) -> None:
        self._metadata = ("authorization", f"Bearer {token}")

    def _with_token(self, details: grpc.ClientCallDetails) -> _CallDetails:
        return _CallDetails(details.method, details.timeout, [*(details.metadata or ()), self._metadata],
                            details.credentials, details.wait_for_ready, details.compression)

    def _intercept(self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._with_token(details), request)

    intercept_unary_unary = intercept_unary_stream = _intercept
    intercept_stream_unary = intercept_stream_stream = _intercept


def tls_credentials(ca_file: str | None = None, cert_file: str | None = None,
                    key_file: str | None = None) -> grpc.ChannelCredentials:
    """TLS checking the server against `ca_file` (default: the system's roots), presenting the
    client certificate `cert_file` + `key_file` when the server asks for one (mTLS)."""
    if bool(cert_file) != bool(key_file):
        raise ValueError("cert_file and key_file go together")

    def read(path: str | None) -> bytes | None:
        return pathlib.Path(path).read_bytes() if path else None

    return grpc.ssl_channel_credentials(root_certificates=read(ca_file), private_key=read(key_file),
                                        certificate_chain=read(cert_file))


def open_channel(target: str, *, token: str | None = None, credentials: grpc.ChannelCredentials | None = None,
                 load_balancing: str = DEFAULT_LOAD_BALANCING) -> grpc.Channel:
    """A channel to `target` (one address, or several in gRPC's target syntax) balanced by
    `load_balancing`: TLS with `credentials` (else plaintext), `token` on every call."""
    if load_balancing not in LOAD_BALANCING_POLICIES:
        raise ValueError(f"load_balancing must be one of {', '.join(LOAD_BALANCING_POLICIES)}, not {load_balancing!r}")
    service_config = {**SERVICE_CONFIG, "loadBalancingConfig": [{load_balancing: LOAD_BALANCING_CONFIG[load_balancing]}]}
    options = [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(service_config)),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", KEEPALIVE_SECONDS * 1000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
    ]
    channel = (grpc.secure_channel(target, credentials, options=options) if credentials is not None
               else grpc.insecure_channel(target, options=options))
    return grpc.intercept_channel(channel, BearerToken(token)) if token else channel
