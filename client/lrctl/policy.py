"""Accepting a policy as a dict in protobuf's JSON mapping (as in config files) or as the message."""
from __future__ import annotations

import os
from typing import Any, Mapping

from lrctl.config_message import to_message
from lrctl.documents import read_document
from lrctl.v1 import policy_pb2


def to_policy(policy: Mapping[str, Any] | policy_pb2.Policy) -> policy_pb2.Policy:
    return to_message(policy, policy_pb2.Policy, "policy")


def load_policy(path: str | os.PathLike[str]) -> policy_pb2.Policy:
    """A policy file, JSON or YAML, in protobuf's JSON mapping. DocumentError when the file
    cannot be read or parsed; InvalidArgument (with the field's path) when it is no policy."""
    return to_policy(read_document(path, "policy"))
