"""Accepting an optimizer as a dict in protobuf's JSON mapping or as the OptimizerSpec message.

    {"adamw": {"betas": [0.9, 0.999], "weight_decay": 0.01}, "global_clipnorm": 1.0,
     "on_nonfinite_gradient": "skip", "snapshot_every_steps": 500}
"""
from __future__ import annotations

from typing import Any, Mapping

from lrctl.config_message import to_message
from lrctl.v1 import optimizer_pb2


def to_optimizer_spec(optimizer: Mapping[str, Any] | optimizer_pb2.OptimizerSpec) -> optimizer_pb2.OptimizerSpec:
    return to_message(optimizer, optimizer_pb2.OptimizerSpec, "optimizer")
