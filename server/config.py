"""Server configuration: defaults < config file (ServerConfig in proto-JSON) < LRCTL_* env < flags."""
from __future__ import annotations

import pathlib
import re
from typing import Mapping

from google.protobuf import json_format

from google.protobuf.descriptor import FieldDescriptor

from lrctl.protocol import wire
from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.v1 import server_config_pb2

DEFAULTS = server_config_pb2.ServerConfig(
    listen="127.0.0.1:50051", metrics_port=9108, data_dir="./lrctl-data", workers=8, step_workers=4,
    grace_seconds=10.0,
    metrics_job_label_cap=100, device="auto",
    max_jobs=100_000, max_elements_per_job=1 << 30, max_optimizer_state_bytes=8 << 30,
    max_chunk_bytes=wire.MAX_CHUNK_BYTES, max_metrics_per_report=64, max_watchers_per_job=64,
    keepalive_seconds=30.0, keepalive_timeout_seconds=10.0, max_connection_age_grace_seconds=30.0,
    max_streams=10_000, max_streams_per_connection=1000)
ZERO_MEANS_DEFAULT = ("workers", "step_workers", "max_streams", "max_streams_per_connection",
                      "max_jobs", "max_elements_per_job", "max_optimizer_state_bytes", "max_chunk_bytes",
                      "max_message_bytes", "max_metrics_per_report", "max_watchers_per_job",
                      "keepalive_seconds", "keepalive_timeout_seconds", "max_connection_age_grace_seconds")
"""Limits and timeouts where 0 cannot mean anything useful (no job, no ping), so it means "the default"."""
ENV_PREFIX = "LRCTL_"
LISTEN = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):[0-9]{1,5}")
BOOL_FIELDS = tuple(f.name for f in server_config_pb2.ServerConfig.DESCRIPTOR.fields if f.type == FieldDescriptor.TYPE_BOOL)


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
        try:
            text = pathlib.Path(config_file).read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise InvalidArgument(FieldViolation("config", f"cannot read {config_file}: {error}")) from None
        layers.append((config_file, {"__file__": text}))
    layers.append(("environment", {f.name: _env_value(f.name, env[env_name(f.name)])
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
    for name in ZERO_MEANS_DEFAULT:
        if not getattr(config, name):
            setattr(config, name, getattr(DEFAULTS, name))
    if not config.max_message_bytes:
        config.max_message_bytes = config.max_chunk_bytes + (1 << 20)

    _check(config)
    return config


def _env_value(field: str, text: str) -> object:
    """Environment strings as JSON values: "true"/"1" for booleans, the string itself otherwise."""
    if field in BOOL_FIELDS:
        return text.strip().lower() in ("1", "true", "yes", "on")
    return text


def _check(config: server_config_pb2.ServerConfig) -> None:
    """Combinations no layer can check alone; every problem is reported at once."""
    violations = []
    if not LISTEN.fullmatch(config.listen):
        violations.append(FieldViolation("listen", f"must be HOST:PORT, e.g. 127.0.0.1:50051, 0.0.0.0:50051 or "
                                                   f"[::]:50051, got {config.listen!r}"))
    if config.metrics_listen and not LISTEN.fullmatch(config.metrics_listen):
        violations.append(FieldViolation("metrics_listen", f"must be HOST:PORT, e.g. 127.0.0.1:9108, got "
                                                           f"{config.metrics_listen!r}"))
    if config.advertise_address and not LISTEN.fullmatch(config.advertise_address):
        violations.append(FieldViolation("advertise_address", f"must be HOST:PORT, e.g. lrctl-0.lrctl:50051 or "
                                                              f"10.0.0.7:50051, got {config.advertise_address!r}"))
    if bool(config.tls_cert) != bool(config.tls_key):
        violations.append(FieldViolation("tls_key" if config.tls_cert else "tls_cert",
                                         "tls_cert and tls_key go together"))
    if config.tls_client_ca and not config.tls_cert:
        violations.append(FieldViolation("tls_client_ca", "mTLS needs the server's own tls_cert and tls_key"))
    if config.max_chunk_bytes > wire.MAX_CHUNK_BYTES:
        violations.append(FieldViolation("max_chunk_bytes", f"at most {wire.MAX_CHUNK_BYTES} (4 MiB)"))
    if config.max_message_bytes < 1024:
        violations.append(FieldViolation("max_message_bytes", "at least 1024"))
    if violations:
        raise InvalidArgument(violations)
