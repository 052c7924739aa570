import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lrctl.v1 import optimizer_pb2 as _optimizer_pb2
from lrctl.v1 import policy_pb2 as _policy_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_ACTIVE: _ClassVar[JobState]
    JOB_STATE_STOPPED: _ClassVar[JobState]

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_CREATED: _ClassVar[EventKind]
    EVENT_KIND_REDUCED: _ClassVar[EventKind]
    EVENT_KIND_INCREASED: _ClassVar[EventKind]
    EVENT_KIND_RESTART: _ClassVar[EventKind]
    EVENT_KIND_EARLY_STOP: _ClassVar[EventKind]
    EVENT_KIND_OVERRIDE_SET: _ClassVar[EventKind]
    EVENT_KIND_OVERRIDE_CLEARED: _ClassVar[EventKind]
    EVENT_KIND_POLICY_UPDATED: _ClassVar[EventKind]
    EVENT_KIND_METRICS: _ClassVar[EventKind]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_ACTIVE: JobState
JOB_STATE_STOPPED: JobState
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_CREATED: EventKind
EVENT_KIND_REDUCED: EventKind
EVENT_KIND_INCREASED: EventKind
EVENT_KIND_RESTART: EventKind
EVENT_KIND_EARLY_STOP: EventKind
EVENT_KIND_OVERRIDE_SET: EventKind
EVENT_KIND_OVERRIDE_CLEARED: EventKind
EVENT_KIND_POLICY_UPDATED: EventKind
EVENT_KIND_METRICS: EventKind

class EchoMessage(_message.Message):
    __slots__ = ("payload",)
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    def __init__(self, payload: _Optional[bytes] = ...) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("policy", "labels", "optimizer")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    POLICY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    policy: _policy_pb2.Policy
    labels: _containers.ScalarMap[str, str]
    optimizer: _optimizer_pb2.OptimizerSpec
    def __init__(self, policy: _Optional[_Union[_policy_pb2.Policy, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., optimizer: _Optional[_Union[_optimizer_pb2.OptimizerSpec, _Mapping]] = ...) -> None: ...

class Override(_message.Message):
    __slots__ = ("lr", "scale", "until_step", "reason")
    LR_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_STEP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    lr: float
    scale: float
    until_step: int
    reason: str
    def __init__(self, lr: _Optional[float] = ..., scale: _Optional[float] = ..., until_step: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class PlateauState(_message.Message):
    __slots__ = ("best", "num_bad_reports", "num_good_reports", "cooldown_counter", "reductions", "increases", "scale")
    BEST_FIELD_NUMBER: _ClassVar[int]
    NUM_BAD_REPORTS_FIELD_NUMBER: _ClassVar[int]
    NUM_GOOD_REPORTS_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_COUNTER_FIELD_NUMBER: _ClassVar[int]
    REDUCTIONS_FIELD_NUMBER: _ClassVar[int]
    INCREASES_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    best: float
    num_bad_reports: int
    num_good_reports: int
    cooldown_counter: int
    reductions: int
    increases: int
    scale: float
    def __init__(self, best: _Optional[float] = ..., num_bad_reports: _Optional[int] = ..., num_good_reports: _Optional[int] = ..., cooldown_counter: _Optional[int] = ..., reductions: _Optional[int] = ..., increases: _Optional[int] = ..., scale: _Optional[float] = ...) -> None: ...

class EarlyStoppingState(_message.Message):
    __slots__ = ("best", "wait", "should_stop", "stopped_step")
    BEST_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    SHOULD_STOP_FIELD_NUMBER: _ClassVar[int]
    STOPPED_STEP_FIELD_NUMBER: _ClassVar[int]
    best: float
    wait: int
    should_stop: bool
    stopped_step: int
    def __init__(self, best: _Optional[float] = ..., wait: _Optional[int] = ..., should_stop: _Optional[bool] = ..., stopped_step: _Optional[int] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "spec", "state", "version", "policy_version", "last_report_step", "override", "plateau", "early_stopping", "create_time", "update_time", "skipped_nonfinite_metrics", "current_lr", "token")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    LAST_REPORT_STEP_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    PLATEAU_FIELD_NUMBER: _ClassVar[int]
    EARLY_STOPPING_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_NONFINITE_METRICS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_LR_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    spec: JobSpec
    state: JobState
    version: int
    policy_version: int
    last_report_step: int
    override: Override
    plateau: PlateauState
    early_stopping: EarlyStoppingState
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    skipped_nonfinite_metrics: int
    current_lr: float
    token: str
    def __init__(self, job_id: _Optional[str] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., state: _Optional[_Union[JobState, str]] = ..., version: _Optional[int] = ..., policy_version: _Optional[int] = ..., last_report_step: _Optional[int] = ..., override: _Optional[_Union[Override, _Mapping]] = ..., plateau: _Optional[_Union[PlateauState, _Mapping]] = ..., early_stopping: _Optional[_Union[EarlyStoppingState, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., skipped_nonfinite_metrics: _Optional[int] = ..., current_lr: _Optional[float] = ..., token: _Optional[str] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("job_id", "spec", "idempotency_key")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    spec: JobSpec
    idempotency_key: str
    def __init__(self, job_id: _Optional[str] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class DeleteJobResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdatePolicyRequest(_message.Message):
    __slots__ = ("job_id", "policy", "expected_policy_version", "reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    policy: _policy_pb2.Policy
    expected_policy_version: int
    reason: str
    def __init__(self, job_id: _Optional[str] = ..., policy: _Optional[_Union[_policy_pb2.Policy, _Mapping]] = ..., expected_policy_version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class GetLearningRateRequest(_message.Message):
    __slots__ = ("job_id", "step", "horizon")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    HORIZON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    step: int
    horizon: int
    def __init__(self, job_id: _Optional[str] = ..., step: _Optional[int] = ..., horizon: _Optional[int] = ...) -> None: ...

class GetLearningRateResponse(_message.Message):
    __slots__ = ("lr", "lrs", "version", "should_stop")
    LR_FIELD_NUMBER: _ClassVar[int]
    LRS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHOULD_STOP_FIELD_NUMBER: _ClassVar[int]
    lr: float
    lrs: _containers.RepeatedScalarFieldContainer[float]
    version: int
    should_stop: bool
    def __init__(self, lr: _Optional[float] = ..., lrs: _Optional[_Iterable[float]] = ..., version: _Optional[int] = ..., should_stop: _Optional[bool] = ...) -> None: ...

class ReportMetricsRequest(_message.Message):
    __slots__ = ("job_id", "step", "metrics")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    step: int
    metrics: _containers.ScalarMap[str, float]
    def __init__(self, job_id: _Optional[str] = ..., step: _Optional[int] = ..., metrics: _Optional[_Mapping[str, float]] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job_id", "version", "kind", "step", "lr", "reason", "time", "metrics", "count", "first_step")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    LR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_STEP_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    version: int
    kind: EventKind
    step: int
    lr: float
    reason: str
    time: _timestamp_pb2.Timestamp
    metrics: _containers.ScalarMap[str, float]
    count: int
    first_step: int
    def __init__(self, job_id: _Optional[str] = ..., version: _Optional[int] = ..., kind: _Optional[_Union[EventKind, str]] = ..., step: _Optional[int] = ..., lr: _Optional[float] = ..., reason: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., count: _Optional[int] = ..., first_step: _Optional[int] = ...) -> None: ...

class ReportMetricsResponse(_message.Message):
    __slots__ = ("lr", "should_stop", "events", "version", "duplicate_metrics", "unused_metrics")
    LR_FIELD_NUMBER: _ClassVar[int]
    SHOULD_STOP_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_METRICS_FIELD_NUMBER: _ClassVar[int]
    UNUSED_METRICS_FIELD_NUMBER: _ClassVar[int]
    lr: float
    should_stop: bool
    events: _containers.RepeatedCompositeFieldContainer[JobEvent]
    version: int
    duplicate_metrics: _containers.RepeatedScalarFieldContainer[str]
    unused_metrics: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, lr: _Optional[float] = ..., should_stop: _Optional[bool] = ..., events: _Optional[_Iterable[_Union[JobEvent, _Mapping]]] = ..., version: _Optional[int] = ..., duplicate_metrics: _Optional[_Iterable[str]] = ..., unused_metrics: _Optional[_Iterable[str]] = ...) -> None: ...

class SetOverrideRequest(_message.Message):
    __slots__ = ("job_id", "override")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    override: Override
    def __init__(self, job_id: _Optional[str] = ..., override: _Optional[_Union[Override, _Mapping]] = ...) -> None: ...

class ClearOverrideRequest(_message.Message):
    __slots__ = ("job_id", "reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    reason: str
    def __init__(self, job_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id", "since_version")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    since_version: int
    def __init__(self, job_id: _Optional[str] = ..., since_version: _Optional[int] = ...) -> None: ...

class ListJobEventsRequest(_message.Message):
    __slots__ = ("job_id", "since_version", "page_size")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    since_version: int
    page_size: int
    def __init__(self, job_id: _Optional[str] = ..., since_version: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListJobEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[JobEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[JobEvent, _Mapping]]] = ...) -> None: ...

class MetricsAtStep(_message.Message):
    __slots__ = ("step", "metrics")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STEP_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    step: int
    metrics: _containers.ScalarMap[str, float]
    def __init__(self, step: _Optional[int] = ..., metrics: _Optional[_Mapping[str, float]] = ...) -> None: ...

class PreviewScheduleRequest(_message.Message):
    __slots__ = ("policy", "steps", "metrics")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    policy: _policy_pb2.Policy
    steps: int
    metrics: _containers.RepeatedCompositeFieldContainer[MetricsAtStep]
    def __init__(self, policy: _Optional[_Union[_policy_pb2.Policy, _Mapping]] = ..., steps: _Optional[int] = ..., metrics: _Optional[_Iterable[_Union[MetricsAtStep, _Mapping]]] = ...) -> None: ...

class PreviewScheduleResponse(_message.Message):
    __slots__ = ("lrs", "events", "stop_step", "unused_metrics")
    LRS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    STOP_STEP_FIELD_NUMBER: _ClassVar[int]
    UNUSED_METRICS_FIELD_NUMBER: _ClassVar[int]
    lrs: _containers.RepeatedScalarFieldContainer[float]
    events: _containers.RepeatedCompositeFieldContainer[JobEvent]
    stop_step: int
    unused_metrics: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, lrs: _Optional[_Iterable[float]] = ..., events: _Optional[_Iterable[_Union[JobEvent, _Mapping]]] = ..., stop_step: _Optional[int] = ..., unused_metrics: _Optional[_Iterable[str]] = ...) -> None: ...

class StepConflict(_message.Message):
    __slots__ = ("server_step", "requested_step")
    SERVER_STEP_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_STEP_FIELD_NUMBER: _ClassVar[int]
    server_step: int
    requested_step: int
    def __init__(self, server_step: _Optional[int] = ..., requested_step: _Optional[int] = ...) -> None: ...
