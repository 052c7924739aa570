from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ServerConfig(_message.Message):
    __slots__ = ("listen", "metrics_port", "data_dir", "workers", "grace_seconds", "metrics_job_label_cap", "device", "tls_cert", "tls_key", "tls_client_ca", "admin_token_file", "allow_unauthenticated", "max_jobs", "max_elements_per_job", "max_optimizer_state_bytes", "max_chunk_bytes", "max_message_bytes", "max_metrics_per_report", "max_watchers_per_job", "keepalive_seconds", "keepalive_timeout_seconds", "max_connection_age_seconds", "max_connection_age_grace_seconds", "store", "step_workers", "max_streams", "max_streams_per_connection", "metrics_listen", "advertise_address")
    LISTEN_FIELD_NUMBER: _ClassVar[int]
    METRICS_PORT_FIELD_NUMBER: _ClassVar[int]
    DATA_DIR_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    GRACE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    METRICS_JOB_LABEL_CAP_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    TLS_CERT_FIELD_NUMBER: _ClassVar[int]
    TLS_KEY_FIELD_NUMBER: _ClassVar[int]
    TLS_CLIENT_CA_FIELD_NUMBER: _ClassVar[int]
    ADMIN_TOKEN_FILE_FIELD_NUMBER: _ClassVar[int]
    ALLOW_UNAUTHENTICATED_FIELD_NUMBER: _ClassVar[int]
    MAX_JOBS_FIELD_NUMBER: _ClassVar[int]
    MAX_ELEMENTS_PER_JOB_FIELD_NUMBER: _ClassVar[int]
    MAX_OPTIMIZER_STATE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_METRICS_PER_REPORT_FIELD_NUMBER: _ClassVar[int]
    MAX_WATCHERS_PER_JOB_FIELD_NUMBER: _ClassVar[int]
    KEEPALIVE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    KEEPALIVE_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONNECTION_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONNECTION_AGE_GRACE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    STEP_WORKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_PER_CONNECTION_FIELD_NUMBER: _ClassVar[int]
    METRICS_LISTEN_FIELD_NUMBER: _ClassVar[int]
    ADVERTISE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    listen: str
    metrics_port: int
    data_dir: str
    workers: int
    grace_seconds: float
    metrics_job_label_cap: int
    device: str
    tls_cert: str
    tls_key: str
    tls_client_ca: str
    admin_token_file: str
    allow_unauthenticated: bool
    max_jobs: int
    max_elements_per_job: int
    max_optimizer_state_bytes: int
    max_chunk_bytes: int
    max_message_bytes: int
    max_metrics_per_report: int
    max_watchers_per_job: int
    keepalive_seconds: float
    keepalive_timeout_seconds: float
    max_connection_age_seconds: float
    max_connection_age_grace_seconds: float
    store: str
    step_workers: int
    max_streams: int
    max_streams_per_connection: int
    metrics_listen: str
    advertise_address: str
    def __init__(self, listen: _Optional[str] = ..., metrics_port: _Optional[int] = ..., data_dir: _Optional[str] = ..., workers: _Optional[int] = ..., grace_seconds: _Optional[float] = ..., metrics_job_label_cap: _Optional[int] = ..., device: _Optional[str] = ..., tls_cert: _Optional[str] = ..., tls_key: _Optional[str] = ..., tls_client_ca: _Optional[str] = ..., admin_token_file: _Optional[str] = ..., allow_unauthenticated: _Optional[bool] = ..., max_jobs: _Optional[int] = ..., max_elements_per_job: _Optional[int] = ..., max_optimizer_state_bytes: _Optional[int] = ..., max_chunk_bytes: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_metrics_per_report: _Optional[int] = ..., max_watchers_per_job: _Optional[int] = ..., keepalive_seconds: _Optional[float] = ..., keepalive_timeout_seconds: _Optional[float] = ..., max_connection_age_seconds: _Optional[float] = ..., max_connection_age_grace_seconds: _Optional[float] = ..., store: _Optional[str] = ..., step_workers: _Optional[int] = ..., max_streams: _Optional[int] = ..., max_streams_per_connection: _Optional[int] = ..., metrics_listen: _Optional[str] = ..., advertise_address: _Optional[str] = ...) -> None: ...
