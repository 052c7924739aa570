"""Configuration given as a dict in protobuf's JSON mapping (as in config files) or as the message."""
from __future__ import annotations

from typing import Any, Mapping, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from lrctl.errors import InvalidArgument

M = TypeVar("M", bound=Message)


def to_message(value: Mapping[str, Any] | M, message_class: type[M], field: str) -> M:
    """The message itself, or the dict parsed into it; a bad dict is InvalidArgument on `field`,
    raised here so the caller sees the same error type the server would give."""
    if isinstance(value, message_class):
        return value
    try:
        return json_format.ParseDict(dict(value), message_class())
    except json_format.ParseError as error:
        raise InvalidArgument(f"INVALID_ARGUMENT: {field}: {error}", [(field, str(error))]) from None
