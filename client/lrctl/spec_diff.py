"""The differences between two job specs, named field by field, for `exist_ok` refusals."""
from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format

from lrctl.v1 import controller_pb2

ABSENT = object()


def spec_differences(wanted: controller_pb2.JobSpec, existing: controller_pb2.JobSpec) -> list[str]:
    """"path: X here, Y on the server" for every field whose value differs, in proto names;
    empty when the specs are equal. A field left at its default counts as absent."""
    return _differences(_as_dict(wanted), _as_dict(existing), "")


def _as_dict(spec: controller_pb2.JobSpec) -> dict[str, Any]:
    return json_format.MessageToDict(spec, preserving_proto_field_name=True)


def _differences(here: Any, there: Any, path: str) -> list[str]:
    if isinstance(here, dict) and isinstance(there, dict):
        return [line for key in sorted(here.keys() | there.keys())
                for line in _differences(here.get(key, ABSENT), there.get(key, ABSENT),
                                         f"{path}.{key}" if path else key)]
    if here == there:
        return []
    return [f"{path}: {_show(here)} here, {_show(there)} on the server"]


def _show(value: Any) -> str:
    return "absent" if value is ABSENT else json.dumps(value, sort_keys=True)
