from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ServerConfig(_message.Message):
    __slots__ = ("listen", "metrics_port", "data_dir", "workers", "grace_seconds", "metrics_job_label_cap", "device")
    LISTEN_FIELD_NUMBER: _ClassVar[int]
    METRICS_PORT_FIELD_NUMBER: _ClassVar[int]
    DATA_DIR_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    GRACE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    METRICS_JOB_LABEL_CAP_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    listen: str
    metrics_port: int
    data_dir: str
    workers: int
    grace_seconds: float
    metrics_job_label_cap: int
    device: str
    def __init__(self, listen: _Optional[str] = ..., metrics_port: _Optional[int] = ..., data_dir: _Optional[str] = ..., workers: _Optional[int] = ..., grace_seconds: _Optional[float] = ..., metrics_job_label_cap: _Optional[int] = ..., device: _Optional[str] = ...) -> None: ...
