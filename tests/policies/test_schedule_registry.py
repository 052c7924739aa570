"""The schedule registry: one class per member of Schedule's `kind` oneof, and what follows from
it (the Policy's check, the codec)."""
from __future__ import annotations

import dataclasses

import pytest

from lrctl.server import policies
from lrctl.server.errors import InvalidArgument
from lrctl.server.service.policy_codec import policy_from_proto
from lrctl.v1 import policy_pb2
from tests.policies.test_properties import SCHEDULE_EXAMPLES

ONEOF = policy_pb2.Schedule.DESCRIPTOR.oneofs_by_name["kind"]
MEMBERS = [field.name for field in ONEOF.fields]


def test_every_oneof_member_is_a_registered_schedule_and_every_schedule_a_member() -> None:
    assert sorted(policies.SCHEDULES) == sorted(MEMBERS)


@pytest.mark.parametrize("member", MEMBERS)
def test_each_message_field_is_a_field_of_its_schedule(member: str) -> None:
    message = policy_pb2.Schedule.DESCRIPTOR.fields_by_name[member].message_type
    assert {f.name for f in message.fields} <= {f.name for f in dataclasses.fields(policies.SCHEDULES[member])}


def _write(schedule: object, msg: policy_pb2.Schedule) -> None:
    """`schedule` into `msg` field by field, the schedules it holds into their own messages."""
    target = getattr(msg, policies.SCHEDULES.name_of(schedule))
    target.SetInParent()
    for field in dataclasses.fields(schedule):
        value = getattr(schedule, field.name)
        if isinstance(value, tuple) and all(isinstance(v, policies.SCHEDULES.types()) for v in value) and value:
            for child in value:
                _write(child, getattr(target, field.name).add())
        elif isinstance(value, tuple):
            getattr(target, field.name).extend(value)
        elif value is not None:
            setattr(target, field.name, value)


def test_the_codec_finds_each_schedule_under_its_member_name() -> None:
    for member in MEMBERS:
        cls = policies.SCHEDULES[member]
        example = next(s for s in SCHEDULE_EXAMPLES if type(s) is cls)
        msg = policy_pb2.Policy(lr=0.1)
        _write(example, msg.schedule)
        assert policy_from_proto(msg).schedule == example, member


def test_every_schedule_has_a_property_example() -> None:
    assert {policies.SCHEDULES.name_of(s) for s in SCHEDULE_EXAMPLES} == set(policies.SCHEDULES)


def test_a_policy_refuses_anything_but_a_registered_schedule() -> None:
    with pytest.raises(InvalidArgument, match="Invalid schedule value"):
        policies.Policy(lr=0.1, schedule=object())
