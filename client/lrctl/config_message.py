"""Configuration given as a dict in protobuf's JSON mapping (as in config files) or as the message.

protobuf's own parse errors name fields in camelCase ("thresholdMode") while the docs, the
files and the server's field violations use the proto names ("threshold_mode"), and say
"Value out of range: -2" without the range. So the dict is checked against the message's
descriptor first, and each problem is reported at its path, in proto names, with the
valid fields or range; what that check lets through is left to protobuf's parser.
"""
from __future__ import annotations

import re
from typing import Any, Mapping, NoReturn, TypeVar

from google.protobuf import descriptor as pb_descriptor
from google.protobuf import json_format
from google.protobuf.message import Message

from lrctl.errors import InvalidArgument

M = TypeVar("M", bound=Message)
FieldDescriptor = pb_descriptor.FieldDescriptor

INTEGER_RANGES = {
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1), FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1), FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
}
_PARSE_CHAIN = re.compile(r"Failed to parse (\w+) field: ")


def to_message(value: Mapping[str, Any] | M, message_class: type[M], field: str) -> M:
    """The message itself, or the dict parsed into it; a bad dict is InvalidArgument with one
    field violation per problem (path in proto names), raised here so the caller sees the
    same error type the server would give."""
    if isinstance(value, message_class):
        return value
    if not isinstance(value, Mapping):
        _refuse([(field, f"must be an object (a dict in protobuf's JSON mapping), got {type(value).__name__}")])
    problems = problems_in(value, message_class.DESCRIPTOR, field)
    if problems:
        _refuse(problems)
    try:
        return json_format.ParseDict(dict(value), message_class())
    except json_format.ParseError as error:
        _refuse([_from_parse_error(str(error), field)])


def problems_in(value: Mapping[str, Any], message: pb_descriptor.Descriptor, path: str) -> list[tuple[str, str]]:
    """(path, problem) for every unknown field, integer out of range and doubly set oneof in
    `value`, searched through nested messages."""
    problems: list[tuple[str, str]] = []
    seen_oneofs: dict[str, str] = {}
    for key, item in value.items():
        field = message.fields_by_name.get(key) or message.fields_by_camelcase_name.get(key)
        where = f"{path}.{key}"
        if field is None:
            names = ", ".join(f.name for f in message.fields)
            problems.append((where, f"unknown field; {message.name} has: {names}"))
            continue
        oneof = field.containing_oneof
        if oneof is not None and not _is_synthetic(oneof) and item is not None:
            if oneof.name in seen_oneofs:
                choices = ", ".join(f.name for f in oneof.fields)
                problems.append((f"{path}.{oneof.name}", f"set only one of {choices} (got {seen_oneofs[oneof.name]} "
                                                         f"and {field.name})"))
            seen_oneofs[oneof.name] = field.name
        problems += _field_problems(field, item, where)
    return problems


def _field_problems(field: FieldDescriptor, item: Any, where: str) -> list[tuple[str, str]]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return []
    repeated = field.is_repeated
    items = list(enumerate(item)) if repeated and isinstance(item, list) else [(None, item)]
    problems: list[tuple[str, str]] = []
    for index, element in items:
        at = where if index is None else f"{where}[{index}]"
        if field.type == FieldDescriptor.TYPE_MESSAGE and isinstance(element, Mapping) \
                and not field.message_type.full_name.startswith("google.protobuf."):
            problems += problems_in(element, field.message_type, at)
        elif field.type in INTEGER_RANGES and isinstance(element, (int, float)) and not isinstance(element, bool):
            low, high = INTEGER_RANGES[field.type]
            if element != int(element) or not low <= element <= high:
                problems.append((at, f"must be an integer in [{low}, {high}], got {element:g}"
                                 if isinstance(element, float) else
                                 f"must be an integer in [{low}, {high}], got {element}"))
    return problems


def _is_synthetic(oneof: pb_descriptor.OneofDescriptor) -> bool:
    """proto3 `optional` fields sit in a oneof of their own, which is no choice."""
    return len(oneof.fields) == 1 and oneof.name == f"_{oneof.fields[0].name}"


def _from_parse_error(text: str, field: str) -> tuple[str, str]:
    """protobuf's "Failed to parse a field: Failed to parse b field: problem" as (field.a.b, problem)."""
    path = [field]
    while match := _PARSE_CHAIN.match(text):
        path.append(match.group(1))
        text = text[match.end():]
    return ".".join(path), text.strip().rstrip(".")


def _refuse(problems: list[tuple[str, str]]) -> NoReturn:
    text = "; ".join(f"{path}: {problem}" for path, problem in problems)
    raise InvalidArgument(f"INVALID_ARGUMENT: {text}", problems)
