"""Accepting a policy as a dict in protobuf's JSON mapping (as in config files) or as the message."""
from __future__ import annotations

import json
import pathlib
from typing import Any, Mapping

import yaml

from lrctl.config_message import to_message
from lrctl.v1 import policy_pb2


def to_policy(policy: Mapping[str, Any] | policy_pb2.Policy) -> policy_pb2.Policy:
    return to_message(policy, policy_pb2.Policy, "policy")


def load_policy(path: str | pathlib.Path) -> policy_pb2.Policy:
    """A policy file, JSON or YAML, in protobuf's JSON mapping."""
    text = pathlib.Path(path).read_text()
    return to_policy(yaml.safe_load(text) if str(path).endswith((".yaml", ".yml")) else json.loads(text))
