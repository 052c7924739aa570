from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    DTYPE_FLOAT32: _ClassVar[DType]
    DTYPE_FLOAT16: _ClassVar[DType]
    DTYPE_BFLOAT16: _ClassVar[DType]

class ReplyMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPLY_MODE_UNSPECIFIED: _ClassVar[ReplyMode]
    REPLY_MODE_ALL: _ClassVar[ReplyMode]
    REPLY_MODE_TOUCHED: _ClassVar[ReplyMode]
    REPLY_MODE_NONE: _ClassVar[ReplyMode]
DTYPE_UNSPECIFIED: DType
DTYPE_FLOAT32: DType
DTYPE_FLOAT16: DType
DTYPE_BFLOAT16: DType
REPLY_MODE_UNSPECIFIED: ReplyMode
REPLY_MODE_ALL: ReplyMode
REPLY_MODE_TOUCHED: ReplyMode
REPLY_MODE_NONE: ReplyMode

class OptimizerSpec(_message.Message):
    __slots__ = ("sgd", "adagrad", "rmsprop", "adam", "adamw", "nadam", "radam", "adamax", "adadelta", "adafactor", "muon", "lion", "lamb", "clipnorm", "global_clipnorm", "clipvalue", "decay", "on_nonfinite_gradient", "snapshot_every_steps", "workers", "gradient_reduction", "step_timeout_seconds")
    class SGD(_message.Message):
        __slots__ = ("momentum", "dampening", "nesterov", "weight_decay", "maximize")
        MOMENTUM_FIELD_NUMBER: _ClassVar[int]
        DAMPENING_FIELD_NUMBER: _ClassVar[int]
        NESTEROV_FIELD_NUMBER: _ClassVar[int]
        WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        MAXIMIZE_FIELD_NUMBER: _ClassVar[int]
        momentum: float
        dampening: float
        nesterov: bool
        weight_decay: float
        maximize: bool
        def __init__(self, momentum: _Optional[float] = ..., dampening: _Optional[float] = ..., nesterov: _Optional[bool] = ..., weight_decay: _Optional[float] = ..., maximize: _Optional[bool] = ...) -> None: ...
    class Adagrad(_message.Message):
        __slots__ = ("lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize")
        LR_DECAY_FIELD_NUMBER: _ClassVar[int]
        WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        INITIAL_ACCUMULATOR_VALUE_FIELD_NUMBER: _ClassVar[int]
        EPS_FIELD_NUMBER: _ClassVar[int]
        MAXIMIZE_FIELD_NUMBER: _ClassVar[int]
        lr_decay: float
        weight_decay: float
        initial_accumulator_value: float
        eps: float
        maximize: bool
        def __init__(self, lr_decay: _Optional[float] = ..., weight_decay: _Optional[float] = ..., initial_accumulator_value: _Optional[float] = ..., eps: _Optional[float] = ..., maximize: _Optional[bool] = ...) -> None: ...
    class RMSprop(_message.Message):
        __slots__ = ("alpha", "eps", "weight_decay", "momentum", "centered", "maximize")
        ALPHA_FIELD_NUMBER: _ClassVar[int]
        EPS_FIELD_NUMBER: _ClassVar[int]
        WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        MOMENTUM_FIELD_NUMBER: _ClassVar[int]
        CENTERED_FIELD_NUMBER: _ClassVar[int]
        MAXIMIZE_FIELD_NUMBER: _ClassVar[int]
        alpha: float
        eps: float
        weight_decay: float
        momentum: float
        centered: bool
        maximize: bool
        def __init__(self, alpha: _Optional[float] = ..., eps: _Optional[float] = ..., weight_decay: _Optional[float] = ..., momentum: _Optional[float] = ..., centered: _Optional[bool] = ..., maximize: _Optional[bool] = ...) -> None: ...
    class Adam(_message.Message):
        __slots__ = ("betas", "eps", "weight_decay", "amsgrad", "maximize")
        BETAS_FIELD_NUMBER: _ClassVar[int]
        EPS_FIELD_NUMBER: _ClassVar[int]
        WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        AMSGRAD_FIELD_NUMBER: _ClassVar[int]
        MAXIMIZE_FIELD_NUMBER: _ClassVar[int]
        betas: _containers.RepeatedScalarFieldContainer[float]
        eps: float
        weight_decay: float
        amsgrad: bool
        maximize: bool
        def __init__(self, betas: _Optional[_Iterable[float]] = ..., eps: _Optional[float] = ..., weight_decay: _Optional[float] = ..., amsgrad: _Optional[bool] = ..., maximize: _Optional[bool] = ...) -> None: ...
    class AdamW(_message.Message):
        __slots__ = ("betas", "eps", "weight_decay", "amsgrad", "maximize")
        BETAS_FIELD_NUMBER: _ClassVar[int]
        EPS_FIELD_NUMBER: _ClassVar[int]
        WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        AMSGRAD_FIELD_NUMBER: _ClassVar[int]
        MAXIMIZE_FIELD_NUMBER: _ClassVar[int]
        betas: _containers.RepeatedScalarFieldContainer[float]
        eps: float
        weight_decay: float
        amsgrad: bool
        maximize: bool
        def __init__(self, betas: _Optional[_Iterable[float]] = ..., eps: _Optional[float] = ..., weight_decay: _Optional[float] = ..., amsgrad: _Optional[bool] = ..., maximize: _Optional[bool] = ...) -> None: ...
    class NAdam(_message.Message):
        __slots__ = ("betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay", "maximize")
        BETAS_FIELD_NUMBER: _ClassVar[int]
        EPS_FIELD_NUMBER: _ClassVar[int]
        WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        MOMENTUM_DECAY_FIELD_NUMBER: _ClassVar[int]
        DECOUPLED_WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        MAXIMIZE_FIELD_NUMBER: _ClassVar[int]
        betas: _containers.RepeatedScalarFieldContainer[float]
        eps: float
        weight_decay: float
        momentum_decay: float
        decoupled_weight_decay: bool
        maximize: bool
        def __init__(self, betas: _Optional[_Iterable[float]] = ..., eps: _Optional[float] = ..., weight_decay: _Optional[float] = ..., momentum_decay: _Optional[float] = ..., decoupled_weight_decay: _Optional[bool] = ..., maximize: _Optional[bool] = ...) -> None: ...
    class RAdam(_message.Message):
        __slots__ = ("betas", "eps", "weight_decay", "decoupled_weight_decay", "maximize")
        BETAS_FIELD_NUMBER: _ClassVar[int]
        EPS_FIELD_NUMBER: _ClassVar[int]
        WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        DECOUPLED_WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        MAXIMIZE_FIELD_NUMBER: _ClassVar[int]
        betas: _containers.RepeatedScalarFieldContainer[float]
        eps: float
        weight_decay: float
        decoupled_weight_decay: bool
        maximize: bool
        def __init__(self, betas: _Optional[_Iterable[float]] = ..., eps: _Optional[float] = ..., weight_decay: _Optional[float] = ..., decoupled_weight_decay: _Optional[bool] = ..., maximize: _Optional[bool] = ...) -> None: ...
    class Adamax(_message.Message):
        __slots__ = ("betas", "eps", "weight_decay", "maximize")
        BETAS_FIELD_NUMBER: _ClassVar[int]
        EPS_FIELD_NUMBER: _ClassVar[int]
        WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        MAXIMIZE_FIELD_NUMBER: _ClassVar[int]
        betas: _containers.RepeatedScalarFieldContainer[float]
        eps: float
        weight_decay: float
        maximize: bool
        def __init__(self, betas: _Optional[_Iterable[float]] = ..., eps: _Optional[float] = ..., weight_decay: _Optional[float] = ..., maximize: _Optional[bool] = ...) -> None: ...
    class Adadelta(_message.Message):
        __slots__ = ("rho", "eps", "weight_decay", "maximize")
        RHO_FIELD_NUMBER: _ClassVar[int]
        EPS_FIELD_NUMBER: _ClassVar[int]
        WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        MAXIMIZE_FIELD_NUMBER: _ClassVar[int]
        rho: float
        eps: float
        weight_decay: float
        maximize: bool
        def __init__(self, rho: _Optional[float] = ..., eps: _Optional[float] = ..., weight_decay: _Optional[float] = ..., maximize: _Optional[bool] = ...) -> None: ...
    class Lion(_message.Message):
        __slots__ = ("b1", "b2", "weight_decay")
        B1_FIELD_NUMBER: _ClassVar[int]
        B2_FIELD_NUMBER: _ClassVar[int]
        WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        b1: float
        b2: float
        weight_decay: float
        def __init__(self, b1: _Optional[float] = ..., b2: _Optional[float] = ..., weight_decay: _Optional[float] = ...) -> None: ...
    class Adafactor(_message.Message):
        __slots__ = ("beta2_decay", "eps1", "eps2", "d", "weight_decay", "maximize")
        BETA2_DECAY_FIELD_NUMBER: _ClassVar[int]
        EPS1_FIELD_NUMBER: _ClassVar[int]
        EPS2_FIELD_NUMBER: _ClassVar[int]
        D_FIELD_NUMBER: _ClassVar[int]
        WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        MAXIMIZE_FIELD_NUMBER: _ClassVar[int]
        beta2_decay: float
        eps1: float
        eps2: float
        d: float
        weight_decay: float
        maximize: bool
        def __init__(self, beta2_decay: _Optional[float] = ..., eps1: _Optional[float] = ..., eps2: _Optional[float] = ..., d: _Optional[float] = ..., weight_decay: _Optional[float] = ..., maximize: _Optional[bool] = ...) -> None: ...
    class Muon(_message.Message):
        __slots__ = ("weight_decay", "momentum", "nesterov", "ns_coefficients", "eps", "ns_steps", "adjust_lr_fn")
        WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        MOMENTUM_FIELD_NUMBER: _ClassVar[int]
        NESTEROV_FIELD_NUMBER: _ClassVar[int]
        NS_COEFFICIENTS_FIELD_NUMBER: _ClassVar[int]
        EPS_FIELD_NUMBER: _ClassVar[int]
        NS_STEPS_FIELD_NUMBER: _ClassVar[int]
        ADJUST_LR_FN_FIELD_NUMBER: _ClassVar[int]
        weight_decay: float
        momentum: float
        nesterov: bool
        ns_coefficients: _containers.RepeatedScalarFieldContainer[float]
        eps: float
        ns_steps: int
        adjust_lr_fn: str
        def __init__(self, weight_decay: _Optional[float] = ..., momentum: _Optional[float] = ..., nesterov: _Optional[bool] = ..., ns_coefficients: _Optional[_Iterable[float]] = ..., eps: _Optional[float] = ..., ns_steps: _Optional[int] = ..., adjust_lr_fn: _Optional[str] = ...) -> None: ...
    class Lamb(_message.Message):
        __slots__ = ("b1", "b2", "eps", "weight_decay")
        B1_FIELD_NUMBER: _ClassVar[int]
        B2_FIELD_NUMBER: _ClassVar[int]
        EPS_FIELD_NUMBER: _ClassVar[int]
        WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
        b1: float
        b2: float
        eps: float
        weight_decay: float
        def __init__(self, b1: _Optional[float] = ..., b2: _Optional[float] = ..., eps: _Optional[float] = ..., weight_decay: _Optional[float] = ...) -> None: ...
    SGD_FIELD_NUMBER: _ClassVar[int]
    ADAGRAD_FIELD_NUMBER: _ClassVar[int]
    RMSPROP_FIELD_NUMBER: _ClassVar[int]
    ADAM_FIELD_NUMBER: _ClassVar[int]
    ADAMW_FIELD_NUMBER: _ClassVar[int]
    NADAM_FIELD_NUMBER: _ClassVar[int]
    RADAM_FIELD_NUMBER: _ClassVar[int]
    ADAMAX_FIELD_NUMBER: _ClassVar[int]
    ADADELTA_FIELD_NUMBER: _ClassVar[int]
    ADAFACTOR_FIELD_NUMBER: _ClassVar[int]
    MUON_FIELD_NUMBER: _ClassVar[int]
    LION_FIELD_NUMBER: _ClassVar[int]
    LAMB_FIELD_NUMBER: _ClassVar[int]
    CLIPNORM_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_CLIPNORM_FIELD_NUMBER: _ClassVar[int]
    CLIPVALUE_FIELD_NUMBER: _ClassVar[int]
    DECAY_FIELD_NUMBER: _ClassVar[int]
    ON_NONFINITE_GRADIENT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_EVERY_STEPS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_REDUCTION_FIELD_NUMBER: _ClassVar[int]
    STEP_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    sgd: OptimizerSpec.SGD
    adagrad: OptimizerSpec.Adagrad
    rmsprop: OptimizerSpec.RMSprop
    adam: OptimizerSpec.Adam
    adamw: OptimizerSpec.AdamW
    nadam: OptimizerSpec.NAdam
    radam: OptimizerSpec.RAdam
    adamax: OptimizerSpec.Adamax
    adadelta: OptimizerSpec.Adadelta
    adafactor: OptimizerSpec.Adafactor
    muon: OptimizerSpec.Muon
    lion: OptimizerSpec.Lion
    lamb: OptimizerSpec.Lamb
    clipnorm: float
    global_clipnorm: float
    clipvalue: float
    decay: float
    on_nonfinite_gradient: str
    snapshot_every_steps: int
    workers: int
    gradient_reduction: str
    step_timeout_seconds: float
    def __init__(self, sgd: _Optional[_Union[OptimizerSpec.SGD, _Mapping]] = ..., adagrad: _Optional[_Union[OptimizerSpec.Adagrad, _Mapping]] = ..., rmsprop: _Optional[_Union[OptimizerSpec.RMSprop, _Mapping]] = ..., adam: _Optional[_Union[OptimizerSpec.Adam, _Mapping]] = ..., adamw: _Optional[_Union[OptimizerSpec.AdamW, _Mapping]] = ..., nadam: _Optional[_Union[OptimizerSpec.NAdam, _Mapping]] = ..., radam: _Optional[_Union[OptimizerSpec.RAdam, _Mapping]] = ..., adamax: _Optional[_Union[OptimizerSpec.Adamax, _Mapping]] = ..., adadelta: _Optional[_Union[OptimizerSpec.Adadelta, _Mapping]] = ..., adafactor: _Optional[_Union[OptimizerSpec.Adafactor, _Mapping]] = ..., muon: _Optional[_Union[OptimizerSpec.Muon, _Mapping]] = ..., lion: _Optional[_Union[OptimizerSpec.Lion, _Mapping]] = ..., lamb: _Optional[_Union[OptimizerSpec.Lamb, _Mapping]] = ..., clipnorm: _Optional[float] = ..., global_clipnorm: _Optional[float] = ..., clipvalue: _Optional[float] = ..., decay: _Optional[float] = ..., on_nonfinite_gradient: _Optional[str] = ..., snapshot_every_steps: _Optional[int] = ..., workers: _Optional[int] = ..., gradient_reduction: _Optional[str] = ..., step_timeout_seconds: _Optional[float] = ...) -> None: ...

class TensorChunk(_message.Message):
    __slots__ = ("name", "shape", "dtype", "offset", "data", "rows")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    name: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: DType
    offset: int
    data: bytes
    rows: bytes
    def __init__(self, name: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[_Union[DType, str]] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ..., rows: _Optional[bytes] = ...) -> None: ...

class UploadHeader(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class UploadParametersRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadHeader
    chunk: TensorChunk
    def __init__(self, header: _Optional[_Union[UploadHeader, _Mapping]] = ..., chunk: _Optional[_Union[TensorChunk, _Mapping]] = ...) -> None: ...

class UploadParametersResponse(_message.Message):
    __slots__ = ("elements", "server_step")
    ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    SERVER_STEP_FIELD_NUMBER: _ClassVar[int]
    elements: int
    server_step: int
    def __init__(self, elements: _Optional[int] = ..., server_step: _Optional[int] = ...) -> None: ...

class StepHeader(_message.Message):
    __slots__ = ("job_id", "step", "reply_mode", "reply_dtype", "reply_chunk_bytes", "rank")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    REPLY_MODE_FIELD_NUMBER: _ClassVar[int]
    REPLY_DTYPE_FIELD_NUMBER: _ClassVar[int]
    REPLY_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    step: int
    reply_mode: ReplyMode
    reply_dtype: DType
    reply_chunk_bytes: int
    rank: int
    def __init__(self, job_id: _Optional[str] = ..., step: _Optional[int] = ..., reply_mode: _Optional[_Union[ReplyMode, str]] = ..., reply_dtype: _Optional[_Union[DType, str]] = ..., reply_chunk_bytes: _Optional[int] = ..., rank: _Optional[int] = ...) -> None: ...

class StepRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: StepHeader
    chunk: TensorChunk
    def __init__(self, header: _Optional[_Union[StepHeader, _Mapping]] = ..., chunk: _Optional[_Union[TensorChunk, _Mapping]] = ...) -> None: ...

class StepResult(_message.Message):
    __slots__ = ("step", "lr", "skipped_nonfinite", "server_step", "duplicate")
    STEP_FIELD_NUMBER: _ClassVar[int]
    LR_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_NONFINITE_FIELD_NUMBER: _ClassVar[int]
    SERVER_STEP_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    step: int
    lr: float
    skipped_nonfinite: bool
    server_step: int
    duplicate: bool
    def __init__(self, step: _Optional[int] = ..., lr: _Optional[float] = ..., skipped_nonfinite: _Optional[bool] = ..., server_step: _Optional[int] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class StepResponse(_message.Message):
    __slots__ = ("result", "chunk")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    result: StepResult
    chunk: TensorChunk
    def __init__(self, result: _Optional[_Union[StepResult, _Mapping]] = ..., chunk: _Optional[_Union[TensorChunk, _Mapping]] = ...) -> None: ...

class PullParametersRequest(_message.Message):
    __slots__ = ("job_id", "dtype", "chunk_bytes", "names")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    dtype: DType
    chunk_bytes: int
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[str] = ..., dtype: _Optional[_Union[DType, str]] = ..., chunk_bytes: _Optional[int] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...

class PullRowsRequest(_message.Message):
    __slots__ = ("job_id", "name", "rows", "dtype", "chunk_bytes")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    rows: bytes
    dtype: DType
    chunk_bytes: int
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ..., rows: _Optional[bytes] = ..., dtype: _Optional[_Union[DType, str]] = ..., chunk_bytes: _Optional[int] = ...) -> None: ...

class ParametersHeader(_message.Message):
    __slots__ = ("server_step", "applied_steps", "skipped_nonfinite_gradients", "elements")
    SERVER_STEP_FIELD_NUMBER: _ClassVar[int]
    APPLIED_STEPS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_NONFINITE_GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    server_step: int
    applied_steps: int
    skipped_nonfinite_gradients: int
    elements: int
    def __init__(self, server_step: _Optional[int] = ..., applied_steps: _Optional[int] = ..., skipped_nonfinite_gradients: _Optional[int] = ..., elements: _Optional[int] = ...) -> None: ...

class PullParametersResponse(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: ParametersHeader
    chunk: TensorChunk
    def __init__(self, header: _Optional[_Union[ParametersHeader, _Mapping]] = ..., chunk: _Optional[_Union[TensorChunk, _Mapping]] = ...) -> None: ...

class ExportJobRequest(_message.Message):
    __slots__ = ("job_id", "chunk_bytes")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    chunk_bytes: int
    def __init__(self, job_id: _Optional[str] = ..., chunk_bytes: _Optional[int] = ...) -> None: ...

class FileChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class ImportHeader(_message.Message):
    __slots__ = ("job_id", "idempotency_key")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    idempotency_key: str
    def __init__(self, job_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ImportJobRequest(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: ImportHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[ImportHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ImportJobResponse(_message.Message):
    __slots__ = ("job_id", "server_step", "token")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_STEP_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    server_step: int
    token: str
    def __init__(self, job_id: _Optional[str] = ..., server_step: _Optional[int] = ..., token: _Optional[str] = ...) -> None: ...

class DataPlaneOwner(_message.Message):
    __slots__ = ("job_id", "address", "replica_id", "epoch")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    address: str
    replica_id: str
    epoch: int
    def __init__(self, job_id: _Optional[str] = ..., address: _Optional[str] = ..., replica_id: _Optional[str] = ..., epoch: _Optional[int] = ...) -> None: ...
