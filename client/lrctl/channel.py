"""Channel construction: retries of idempotent RPCs live in the gRPC service config.

Retrying is safe exactly for the calls the server makes idempotent: reads,
GetLearningRate (same step, same LR), ReportMetrics (idempotent on job, step, metric)
and CreateJob (the SDK always sends an idempotency key). Operator changes
(UpdatePolicy, overrides, DeleteJob) are not retried.
"""
from __future__ import annotations

import json

import grpc

RETRIED_METHODS = ("GetJob", "ListJobs", "GetLearningRate", "ReportMetrics", "CreateJob",
                   "ListJobEvents", "PreviewSchedule")

SERVICE_CONFIG = {
    "methodConfig": [{
        "name": [{"service": "lrctl.v1.Controller", "method": m} for m in RETRIED_METHODS],
        "retryPolicy": {
            "maxAttempts": 5,
            "initialBackoff": "0.05s",
            "maxBackoff": "2s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }],
}

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
KEEPALIVE_SECONDS = 30
"""Ping an idle connection this often, so a watch on a vanished server fails instead of
hanging; the server accepts pings every 10 s or slower."""


def open_channel(target: str) -> grpc.Channel:
    options = [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", KEEPALIVE_SECONDS * 1000),
        ("grpc.keepalive_timeout_ms", 10_000),
    ]
    return grpc.insecure_channel(target, options=options)
