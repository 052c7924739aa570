"""Every string, map and repeated field a caller sends has a limit, checked before the request
reaches the jobs layer: a job's spec is stored and returned whole (GetJob, ListJobs), so one
3 MB label or a million milestones would make every later listing slow or too large to send.

The walk covers the whole request message. Fields named in FIELD_LIMITS have their own limit
(by their path with indices and map keys dropped: "spec.labels", "override.reason"); every
other string is held to MAX_STRING_CHARS, every other repeated field to MAX_REPEATED and every
other map to MAX_MAP_ENTRIES. A field over its limit is INVALID_ARGUMENT naming the field, the
limit and the size it has. Job ids are the exception: their own rule (`jobs.names`, 128
characters of a fixed alphabet) answers for them, so an impossible id gets one answer on
`job_id` whether it is 10,000 characters or has a slash, in a request or a stream's header.
"""
from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from lrctl.server.errors import FieldViolation, InvalidArgument

MAX_STRING_CHARS = 4096
MAX_REPEATED = 10_000
MAX_MAP_ENTRIES = 1000
MAX_REASON_CHARS = 1024
FIELD_LIMITS: dict[str, int] = {
    "idempotency_key": 128,
    "spec.labels": 64,
    "spec.labels.key": 63,
    "spec.labels.value": 256,
    "reason": MAX_REASON_CHARS,
    "override.reason": MAX_REASON_CHARS,
    "page_token": 512,
    "header.idempotency_key": 128,
    "name": 1024,
    "names": 10_000,
    "names.item": 1024,
}
"""Limits by field path (strings: characters; repeated fields and maps: entries; a list's
items: `path.item`, a map's keys and values: `path.key`, `path.value`)."""
JOB_ID_PATHS = frozenset({"job_id", "header.job_id"})
"""Held to the job-id rule instead, which every method naming a job applies before any work."""


def check_request(message: Message) -> None:
    """INVALID_ARGUMENT listing every field of `message` over its limit."""
    violations: list[FieldViolation] = []
    _walk(message, "", violations)
    if violations:
        raise InvalidArgument(violations)


def _limit(path: str, default: int) -> int:
    return FIELD_LIMITS.get(path, default)


def _walk(message: Message, path: str, violations: list[FieldViolation]) -> None:
    for field, value in message.ListFields():
        here = f"{path}.{field.name}" if path else field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            _check_count(here, len(value), _limit(here, MAX_MAP_ENTRIES), "entries", violations)
            key_type, value_field = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            for key, item in value.items():
                if key_type.type == FieldDescriptor.TYPE_STRING:
                    _check_string(f"{here}.key", key, f"{here}[{key[:40]!r}]", violations)
                if value_field.message_type is not None:
                    _walk(item, f"{here}[{key!r}]", violations)
                elif value_field.type == FieldDescriptor.TYPE_STRING:
                    _check_string(f"{here}.value", item, f"{here}[{key[:40]!r}]", violations)
        elif field.is_repeated:
            _check_count(here, len(value), _limit(here, MAX_REPEATED), "entries", violations)
            for index, item in enumerate(value[:_limit(here, MAX_REPEATED)]):
                if field.message_type is not None:
                    _walk(item, f"{here}[{index}]", violations)
                elif field.type == FieldDescriptor.TYPE_STRING:
                    _check_string(f"{here}.item", item, f"{here}[{index}]", violations)
        elif field.message_type is not None:
            _walk(value, here, violations)
        elif field.type == FieldDescriptor.TYPE_STRING and here not in JOB_ID_PATHS:
            _check_string(here, value, here, violations)


def _check_string(limit_path: str, value: str, where: str, violations: list[FieldViolation]) -> None:
    _check_count(where, len(value), _limit(limit_path, MAX_STRING_CHARS), "characters", violations)


def _check_count(where: str, size: int, limit: int, unit: str, violations: list[FieldViolation]) -> None:
    if size > limit:
        violations.append(FieldViolation(where, f"at most {limit} {unit}, got {size}"))
