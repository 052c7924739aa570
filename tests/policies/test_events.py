"""Event kinds: one table (policies/events.py), and the proto's EventKind derived from it."""
from __future__ import annotations

from lrctl.server import policies
from lrctl.server.service import job_codec
from lrctl.v1 import controller_pb2


def test_every_job_event_kind_is_an_event_kind_value_and_back() -> None:
    values = {value for value in controller_pb2.EventKind.values() if value != controller_pb2.EVENT_KIND_UNSPECIFIED}
    assert list(job_codec.EVENT_KINDS) == list(policies.JOB_EVENT_KINDS)
    assert sorted(job_codec.EVENT_KINDS.values()) == sorted(values)
    for kind, value in job_codec.EVENT_KINDS.items():
        assert controller_pb2.EventKind.Name(value).removeprefix(job_codec.EVENT_KIND_PREFIX).lower() == kind


def test_what_a_policy_emits_is_a_job_event_kind() -> None:
    assert set(policies.EVENT_KINDS) <= set(policies.JOB_EVENT_KINDS)
