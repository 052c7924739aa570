"""lrctl.v1.Policy (proto or its JSON mapping) <-> the domain Policy.

Field names in the domain configs are the proto's, and each schedule class is registered
under its member name of Schedule's `kind` oneof, so the translation is generic: an
absent `optional` field or an empty string takes the domain default (torch's), a repeated
field becomes a tuple. A schedule's `repeated Schedule` field (sequential's and chained's
`schedules`) is built the same way, child by child. Violations carry paths relative to the
Policy message, nested by proto field name ("plateau.factor",
"schedule.sequential.schedules[1].cosine.t_max").
"""
from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.policies import SCHEDULES, Constant, EarlyStopping, Plateau, Policy, Warmup
from lrctl.v1 import policy_pb2

_NESTED = {"warmup": Warmup, "plateau": Plateau, "early_stopping": EarlyStopping}
_PARSE_FIELD = re.compile(r"Failed to parse (\S+) field")
_PARSE_FIELD_PREFIX = re.compile(r"Failed to parse \S+ field: ")


def policy_from_proto(msg: policy_pb2.Policy) -> Policy:
    """The domain Policy of `msg`; InvalidArgument lists every bad field it can find."""
    violations: list[FieldViolation] = []
    nested = {name: _build(cls, getattr(msg, name), name, violations)
              for name, cls in _NESTED.items() if msg.HasField(name)}
    schedule = _schedule(msg.schedule, "schedule", violations)
    policy = _build(Policy, msg, "", violations, schedule=schedule or Constant(), **nested)
    if violations:
        raise InvalidArgument(violations)
    return policy


def policy_from_json(text_or_dict: str | bytes | dict[str, Any]) -> tuple[policy_pb2.Policy, Policy]:
    """Parse a policy written in protobuf's JSON mapping (a config file, the CLI).

    Unknown fields are refused, each with its path, rather than silently dropped.
    """
    data = text_or_dict
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise InvalidArgument(FieldViolation("", f"Invalid policy JSON: {exc}")) from exc
    if not isinstance(data, dict):
        raise InvalidArgument(FieldViolation("", "A policy must be a JSON object"))
    unknown = list(_unknown_fields(data, policy_pb2.Policy.DESCRIPTOR, ""))
    if unknown:
        raise InvalidArgument(unknown)
    msg = policy_pb2.Policy()
    try:
        json_format.ParseDict(data, msg)
    except json_format.ParseError as exc:
        reason = _PARSE_FIELD_PREFIX.sub("", str(exc))
        raise InvalidArgument(FieldViolation(_parse_error_path(str(exc), data), reason)) from exc
    return msg, policy_from_proto(msg)


def _schedule(msg: policy_pb2.Schedule, path: str, violations: list[FieldViolation]) -> Any:
    """The schedule `msg` holds (Constant when none is set), its nested schedules built first;
    None with its violations recorded when it or one it holds is bad."""
    kind = msg.WhichOneof("kind")
    if kind is None:
        return Constant()
    member = getattr(msg, kind)
    nested: dict[str, tuple[Any, ...]] = {}
    for field in member.DESCRIPTOR.fields:
        if field.message_type is policy_pb2.Schedule.DESCRIPTOR:
            nested[field.name] = tuple(_schedule(child, f"{path}.{kind}.{field.name}[{i}]", violations)
                                       for i, child in enumerate(getattr(member, field.name)))
    if any(child is None for children in nested.values() for child in children):
        return None
    return _build(SCHEDULES[kind], member, f"{path}.{kind}", violations, **nested)


def _build(cls: type, msg: Message, path: str, violations: list[FieldViolation], **extra: Any) -> Any:
    """cls(**scalar fields of msg, **extra), or None with its violations recorded under `path`."""
    try:
        return cls(**scalar_kwargs(msg, _required(cls)), **extra)
    except InvalidArgument as exc:
        violations.extend(exc.under(path).violations)
        return None


def _required(cls: type) -> frozenset[str]:
    """Fields of a domain config without a default: an empty string there is passed on, so
    the config names it as bad instead of the call failing for a missing argument."""
    return frozenset(f.name for f in dataclasses.fields(cls)
                     if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


def scalar_kwargs(msg: Message, required: frozenset[str]) -> dict[str, Any]:
    """The set scalar and repeated scalar fields of `msg` as keyword arguments (messages,
    repeated or not, are left out).

    Shared by every codec that turns a proto config into a domain dataclass with defaults.
    """
    kwargs: dict[str, Any] = {}
    for field in msg.DESCRIPTOR.fields:
        value = getattr(msg, field.name)
        if field.message_type is not None:
            continue
        if field.is_repeated:
            kwargs[field.name] = tuple(value)
        elif field.has_presence and not msg.HasField(field.name):
            continue
        elif field.type == FieldDescriptor.TYPE_STRING and value == "" and field.name not in required:
            continue
        else:
            kwargs[field.name] = value
    return kwargs


def _field(desc: Descriptor, key: str) -> FieldDescriptor | None:
    """The field `key` names, by proto name or JSON (camelCase) name."""
    return desc.fields_by_name.get(key) or desc.fields_by_camelcase_name.get(key)


def _unknown_fields(data: dict[str, Any], desc: Descriptor, prefix: str) -> Iterator[FieldViolation]:
    for key, value in data.items():
        field = _field(desc, key)
        path = f"{prefix}.{key}" if prefix else key
        if field is None:
            yield FieldViolation(path, f'Unknown field "{key}" in {desc.full_name}')
        elif field.message_type is not None and not field.is_repeated and isinstance(value, dict):
            yield from _unknown_fields(value, field.message_type, f"{prefix}.{field.name}" if prefix else field.name)
        elif field.message_type is not None and field.is_repeated and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield from _unknown_fields(item, field.message_type, f"{prefix}.{field.name}[{i}]")


def _parse_error_path(message: str, data: Any, desc: Descriptor = policy_pb2.Policy.DESCRIPTOR) -> str:
    """The proto path of the field a json_format.ParseError is about.

    ParseError names the fields it was parsing ("Failed to parse schedule field: Failed to
    parse t_0 field: ...") but skips the oneof member in between and a list's index; the
    data fills them in (the index is the first item that fails to parse on its own).
    """
    parts: list[str] = []
    current: Descriptor | None = desc
    node: Any = data
    for key in _PARSE_FIELD.findall(message):
        if current is None:
            break
        field = _field(current, key)
        if field is None and isinstance(node, dict):
            for outer_key, inner in node.items():
                outer = _field(current, outer_key)
                if outer is not None and outer.message_type is not None and _field(outer.message_type, key):
                    parts.append(outer.name)
                    current, node, field = outer.message_type, inner, _field(outer.message_type, key)
                    break
        if field is None:
            break
        parts.append(field.name)
        node = node.get(key) if isinstance(node, dict) else None
        if field.message_type is not None and field.is_repeated and isinstance(node, list):
            return ".".join(parts) + _failing_item(node, field.message_type)
        current = field.message_type
    return ".".join(parts)


def _failing_item(items: list[Any], desc: Descriptor) -> str:
    """"[i].path" of the first of `items` (messages of type `desc`) that fails to parse."""
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            return f"[{i}]"
        try:
            json_format.ParseDict(item, message_factory.GetMessageClass(desc)())
        except json_format.ParseError as exc:
            inner = _parse_error_path(str(exc), item, desc)
            return f"[{i}].{inner}" if inner else f"[{i}]"
    return ""
