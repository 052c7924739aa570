"""TLS: the server's gRPC credentials from PEM files (tls_cert, tls_key, tls_client_ca)."""
from __future__ import annotations

import pathlib

import grpc

from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.v1 import server_config_pb2


def _read(field: str, path: str) -> bytes:
    try:
        return pathlib.Path(path).read_bytes()
    except OSError as error:
        raise InvalidArgument(FieldViolation(field, f"cannot read {path}: {error.strerror or error}")) from None


def server_credentials(config: server_config_pb2.ServerConfig) -> grpc.ServerCredentials | None:
    """None for plaintext; with tls_client_ca, clients must present a certificate it signed (mTLS)."""
    if not config.tls_cert:
        return None
    pair = (_read("tls_key", config.tls_key), _read("tls_cert", config.tls_cert))
    if not config.tls_client_ca:
        return grpc.ssl_server_credentials([pair])
    return grpc.ssl_server_credentials([pair], root_certificates=_read("tls_client_ca", config.tls_client_ca),
                                       require_client_auth=True)
