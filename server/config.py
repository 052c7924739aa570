"""Server configuration: defaults < config file (ServerConfig in proto-JSON) < LRCTL_* env < flags."""
from __future__ import annotations

import pathlib
from typing import Mapping

from google.protobuf import json_format

from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.v1 import server_config_pb2

DEFAULTS = server_config_pb2.ServerConfig(
    listen="127.0.0.1:50051", metrics_port=9108, data_dir="./lrctl-data", workers=16, grace_seconds=10.0,
    metrics_job_label_cap=100, device="auto")
ENV_PREFIX = "LRCTL_"


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def load_config(config_file: str | None, env: Mapping[str, str],
                flags: Mapping[str, object]) -> server_config_pb2.ServerConfig:
    """Merges the layers; `flags` holds only the flags the user gave (None values are ignored)."""
    config = server_config_pb2.ServerConfig()
    config.CopyFrom(DEFAULTS)
    config_file = config_file or env.get(env_name("config"))
    layers: list[tuple[str, dict]] = []
    if config_file:
        layers.append((config_file, {"__file__": pathlib.Path(config_file).read_text()}))
    layers.append(("environment", {f.name: env[env_name(f.name)]
                                   for f in server_config_pb2.ServerConfig.DESCRIPTOR.fields
                                   if env_name(f.name) in env}))
    layers.append(("flags", {k: v for k, v in flags.items() if v is not None}))
    for source, values in layers:
        try:
            if "__file__" in values:
                json_format.Parse(values["__file__"], config)
            elif values:
                json_format.ParseDict(values, config)
        except json_format.ParseError as error:
            raise InvalidArgument(FieldViolation(source, str(error))) from None
    return config
