from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Policy(_message.Message):
    __slots__ = ("lr", "warmup", "schedule", "plateau", "early_stopping", "min_lr", "max_lr", "steps_per_epoch", "on_nonfinite_metric")
    LR_FIELD_NUMBER: _ClassVar[int]
    WARMUP_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    PLATEAU_FIELD_NUMBER: _ClassVar[int]
    EARLY_STOPPING_FIELD_NUMBER: _ClassVar[int]
    MIN_LR_FIELD_NUMBER: _ClassVar[int]
    MAX_LR_FIELD_NUMBER: _ClassVar[int]
    STEPS_PER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    ON_NONFINITE_METRIC_FIELD_NUMBER: _ClassVar[int]
    lr: float
    warmup: Warmup
    schedule: Schedule
    plateau: Plateau
    early_stopping: EarlyStopping
    min_lr: float
    max_lr: float
    steps_per_epoch: int
    on_nonfinite_metric: str
    def __init__(self, lr: _Optional[float] = ..., warmup: _Optional[_Union[Warmup, _Mapping]] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ..., plateau: _Optional[_Union[Plateau, _Mapping]] = ..., early_stopping: _Optional[_Union[EarlyStopping, _Mapping]] = ..., min_lr: _Optional[float] = ..., max_lr: _Optional[float] = ..., steps_per_epoch: _Optional[int] = ..., on_nonfinite_metric: _Optional[str] = ...) -> None: ...

class Warmup(_message.Message):
    __slots__ = ("steps", "start_factor", "mode")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    START_FACTOR_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    steps: int
    start_factor: float
    mode: str
    def __init__(self, steps: _Optional[int] = ..., start_factor: _Optional[float] = ..., mode: _Optional[str] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("constant", "step", "multistep", "piecewise", "exponential", "polynomial", "linear", "cosine", "one_cycle", "cosine_restarts", "wsd", "cyclic", "inverse_sqrt", "inverse_time", "sequential", "chained")
    CONSTANT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    MULTISTEP_FIELD_NUMBER: _ClassVar[int]
    PIECEWISE_FIELD_NUMBER: _ClassVar[int]
    EXPONENTIAL_FIELD_NUMBER: _ClassVar[int]
    POLYNOMIAL_FIELD_NUMBER: _ClassVar[int]
    LINEAR_FIELD_NUMBER: _ClassVar[int]
    COSINE_FIELD_NUMBER: _ClassVar[int]
    ONE_CYCLE_FIELD_NUMBER: _ClassVar[int]
    COSINE_RESTARTS_FIELD_NUMBER: _ClassVar[int]
    WSD_FIELD_NUMBER: _ClassVar[int]
    CYCLIC_FIELD_NUMBER: _ClassVar[int]
    INVERSE_SQRT_FIELD_NUMBER: _ClassVar[int]
    INVERSE_TIME_FIELD_NUMBER: _ClassVar[int]
    SEQUENTIAL_FIELD_NUMBER: _ClassVar[int]
    CHAINED_FIELD_NUMBER: _ClassVar[int]
    constant: Constant
    step: StepDecay
    multistep: MultiStep
    piecewise: Piecewise
    exponential: Exponential
    polynomial: Polynomial
    linear: Linear
    cosine: Cosine
    one_cycle: OneCycle
    cosine_restarts: CosineRestarts
    wsd: Wsd
    cyclic: Cyclic
    inverse_sqrt: InverseSqrt
    inverse_time: InverseTime
    sequential: Sequential
    chained: Chained
    def __init__(self, constant: _Optional[_Union[Constant, _Mapping]] = ..., step: _Optional[_Union[StepDecay, _Mapping]] = ..., multistep: _Optional[_Union[MultiStep, _Mapping]] = ..., piecewise: _Optional[_Union[Piecewise, _Mapping]] = ..., exponential: _Optional[_Union[Exponential, _Mapping]] = ..., polynomial: _Optional[_Union[Polynomial, _Mapping]] = ..., linear: _Optional[_Union[Linear, _Mapping]] = ..., cosine: _Optional[_Union[Cosine, _Mapping]] = ..., one_cycle: _Optional[_Union[OneCycle, _Mapping]] = ..., cosine_restarts: _Optional[_Union[CosineRestarts, _Mapping]] = ..., wsd: _Optional[_Union[Wsd, _Mapping]] = ..., cyclic: _Optional[_Union[Cyclic, _Mapping]] = ..., inverse_sqrt: _Optional[_Union[InverseSqrt, _Mapping]] = ..., inverse_time: _Optional[_Union[InverseTime, _Mapping]] = ..., sequential: _Optional[_Union[Sequential, _Mapping]] = ..., chained: _Optional[_Union[Chained, _Mapping]] = ...) -> None: ...

class Constant(_message.Message):
    __slots__ = ("factor", "total_iters")
    FACTOR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ITERS_FIELD_NUMBER: _ClassVar[int]
    factor: float
    total_iters: int
    def __init__(self, factor: _Optional[float] = ..., total_iters: _Optional[int] = ...) -> None: ...

class StepDecay(_message.Message):
    __slots__ = ("step_size", "gamma")
    STEP_SIZE_FIELD_NUMBER: _ClassVar[int]
    GAMMA_FIELD_NUMBER: _ClassVar[int]
    step_size: int
    gamma: float
    def __init__(self, step_size: _Optional[int] = ..., gamma: _Optional[float] = ...) -> None: ...

class MultiStep(_message.Message):
    __slots__ = ("milestones", "gamma")
    MILESTONES_FIELD_NUMBER: _ClassVar[int]
    GAMMA_FIELD_NUMBER: _ClassVar[int]
    milestones: _containers.RepeatedScalarFieldContainer[int]
    gamma: float
    def __init__(self, milestones: _Optional[_Iterable[int]] = ..., gamma: _Optional[float] = ...) -> None: ...

class Piecewise(_message.Message):
    __slots__ = ("boundaries", "factors", "interpolation")
    BOUNDARIES_FIELD_NUMBER: _ClassVar[int]
    FACTORS_FIELD_NUMBER: _ClassVar[int]
    INTERPOLATION_FIELD_NUMBER: _ClassVar[int]
    boundaries: _containers.RepeatedScalarFieldContainer[int]
    factors: _containers.RepeatedScalarFieldContainer[float]
    interpolation: str
    def __init__(self, boundaries: _Optional[_Iterable[int]] = ..., factors: _Optional[_Iterable[float]] = ..., interpolation: _Optional[str] = ...) -> None: ...

class Exponential(_message.Message):
    __slots__ = ("gamma", "k")
    GAMMA_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    gamma: float
    k: float
    def __init__(self, gamma: _Optional[float] = ..., k: _Optional[float] = ...) -> None: ...

class Polynomial(_message.Message):
    __slots__ = ("total_iters", "power", "end_lr", "cycle")
    TOTAL_ITERS_FIELD_NUMBER: _ClassVar[int]
    POWER_FIELD_NUMBER: _ClassVar[int]
    END_LR_FIELD_NUMBER: _ClassVar[int]
    CYCLE_FIELD_NUMBER: _ClassVar[int]
    total_iters: int
    power: float
    end_lr: float
    cycle: bool
    def __init__(self, total_iters: _Optional[int] = ..., power: _Optional[float] = ..., end_lr: _Optional[float] = ..., cycle: _Optional[bool] = ...) -> None: ...

class Linear(_message.Message):
    __slots__ = ("start_factor", "end_factor", "total_iters")
    START_FACTOR_FIELD_NUMBER: _ClassVar[int]
    END_FACTOR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ITERS_FIELD_NUMBER: _ClassVar[int]
    start_factor: float
    end_factor: float
    total_iters: int
    def __init__(self, start_factor: _Optional[float] = ..., end_factor: _Optional[float] = ..., total_iters: _Optional[int] = ...) -> None: ...

class Cosine(_message.Message):
    __slots__ = ("t_max", "eta_min", "hold_after_t_max")
    T_MAX_FIELD_NUMBER: _ClassVar[int]
    ETA_MIN_FIELD_NUMBER: _ClassVar[int]
    HOLD_AFTER_T_MAX_FIELD_NUMBER: _ClassVar[int]
    t_max: int
    eta_min: float
    hold_after_t_max: bool
    def __init__(self, t_max: _Optional[int] = ..., eta_min: _Optional[float] = ..., hold_after_t_max: _Optional[bool] = ...) -> None: ...

class OneCycle(_message.Message):
    __slots__ = ("max_lr", "total_steps", "pct_start", "anneal_strategy", "div_factor", "final_div_factor", "three_phase")
    MAX_LR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    PCT_START_FIELD_NUMBER: _ClassVar[int]
    ANNEAL_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    DIV_FACTOR_FIELD_NUMBER: _ClassVar[int]
    FINAL_DIV_FACTOR_FIELD_NUMBER: _ClassVar[int]
    THREE_PHASE_FIELD_NUMBER: _ClassVar[int]
    max_lr: float
    total_steps: int
    pct_start: float
    anneal_strategy: str
    div_factor: float
    final_div_factor: float
    three_phase: bool
    def __init__(self, max_lr: _Optional[float] = ..., total_steps: _Optional[int] = ..., pct_start: _Optional[float] = ..., anneal_strategy: _Optional[str] = ..., div_factor: _Optional[float] = ..., final_div_factor: _Optional[float] = ..., three_phase: _Optional[bool] = ...) -> None: ...

class CosineRestarts(_message.Message):
    __slots__ = ("t_0", "t_mult", "eta_min", "peak_decay")
    T_0_FIELD_NUMBER: _ClassVar[int]
    T_MULT_FIELD_NUMBER: _ClassVar[int]
    ETA_MIN_FIELD_NUMBER: _ClassVar[int]
    PEAK_DECAY_FIELD_NUMBER: _ClassVar[int]
    t_0: int
    t_mult: float
    eta_min: float
    peak_decay: float
    def __init__(self, t_0: _Optional[int] = ..., t_mult: _Optional[float] = ..., eta_min: _Optional[float] = ..., peak_decay: _Optional[float] = ...) -> None: ...

class Wsd(_message.Message):
    __slots__ = ("stable_steps", "decay_steps", "decay_type", "min_lr_ratio")
    STABLE_STEPS_FIELD_NUMBER: _ClassVar[int]
    DECAY_STEPS_FIELD_NUMBER: _ClassVar[int]
    DECAY_TYPE_FIELD_NUMBER: _ClassVar[int]
    MIN_LR_RATIO_FIELD_NUMBER: _ClassVar[int]
    stable_steps: int
    decay_steps: int
    decay_type: str
    min_lr_ratio: float
    def __init__(self, stable_steps: _Optional[int] = ..., decay_steps: _Optional[int] = ..., decay_type: _Optional[str] = ..., min_lr_ratio: _Optional[float] = ...) -> None: ...

class Cyclic(_message.Message):
    __slots__ = ("base_lr", "max_lr", "step_size_up", "step_size_down", "mode", "gamma")
    BASE_LR_FIELD_NUMBER: _ClassVar[int]
    MAX_LR_FIELD_NUMBER: _ClassVar[int]
    STEP_SIZE_UP_FIELD_NUMBER: _ClassVar[int]
    STEP_SIZE_DOWN_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    GAMMA_FIELD_NUMBER: _ClassVar[int]
    base_lr: float
    max_lr: float
    step_size_up: int
    step_size_down: int
    mode: str
    gamma: float
    def __init__(self, base_lr: _Optional[float] = ..., max_lr: _Optional[float] = ..., step_size_up: _Optional[int] = ..., step_size_down: _Optional[int] = ..., mode: _Optional[str] = ..., gamma: _Optional[float] = ...) -> None: ...

class InverseSqrt(_message.Message):
    __slots__ = ("timescale",)
    TIMESCALE_FIELD_NUMBER: _ClassVar[int]
    timescale: int
    def __init__(self, timescale: _Optional[int] = ...) -> None: ...

class InverseTime(_message.Message):
    __slots__ = ("decay_steps", "decay_rate", "staircase")
    DECAY_STEPS_FIELD_NUMBER: _ClassVar[int]
    DECAY_RATE_FIELD_NUMBER: _ClassVar[int]
    STAIRCASE_FIELD_NUMBER: _ClassVar[int]
    decay_steps: int
    decay_rate: float
    staircase: bool
    def __init__(self, decay_steps: _Optional[int] = ..., decay_rate: _Optional[float] = ..., staircase: _Optional[bool] = ...) -> None: ...

class Sequential(_message.Message):
    __slots__ = ("schedules", "milestones")
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    MILESTONES_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[Schedule]
    milestones: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, schedules: _Optional[_Iterable[_Union[Schedule, _Mapping]]] = ..., milestones: _Optional[_Iterable[int]] = ...) -> None: ...

class Chained(_message.Message):
    __slots__ = ("schedules",)
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[Schedule]
    def __init__(self, schedules: _Optional[_Iterable[_Union[Schedule, _Mapping]]] = ...) -> None: ...

class Plateau(_message.Message):
    __slots__ = ("metric", "mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps", "sign_safe_threshold", "increase_factor", "increase_patience", "increase_max_lr")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    FACTOR_FIELD_NUMBER: _ClassVar[int]
    PATIENCE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_MODE_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_FIELD_NUMBER: _ClassVar[int]
    MIN_LR_FIELD_NUMBER: _ClassVar[int]
    EPS_FIELD_NUMBER: _ClassVar[int]
    SIGN_SAFE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    INCREASE_FACTOR_FIELD_NUMBER: _ClassVar[int]
    INCREASE_PATIENCE_FIELD_NUMBER: _ClassVar[int]
    INCREASE_MAX_LR_FIELD_NUMBER: _ClassVar[int]
    metric: str
    mode: str
    factor: float
    patience: int
    threshold: float
    threshold_mode: str
    cooldown: int
    min_lr: float
    eps: float
    sign_safe_threshold: bool
    increase_factor: float
    increase_patience: int
    increase_max_lr: float
    def __init__(self, metric: _Optional[str] = ..., mode: _Optional[str] = ..., factor: _Optional[float] = ..., patience: _Optional[int] = ..., threshold: _Optional[float] = ..., threshold_mode: _Optional[str] = ..., cooldown: _Optional[int] = ..., min_lr: _Optional[float] = ..., eps: _Optional[float] = ..., sign_safe_threshold: _Optional[bool] = ..., increase_factor: _Optional[float] = ..., increase_patience: _Optional[int] = ..., increase_max_lr: _Optional[float] = ...) -> None: ...

class EarlyStopping(_message.Message):
    __slots__ = ("metric", "mode", "patience", "min_delta", "baseline", "start_step")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    PATIENCE_FIELD_NUMBER: _ClassVar[int]
    MIN_DELTA_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    START_STEP_FIELD_NUMBER: _ClassVar[int]
    metric: str
    mode: str
    patience: int
    min_delta: float
    baseline: float
    start_step: int
    def __init__(self, metric: _Optional[str] = ..., mode: _Optional[str] = ..., patience: _Optional[int] = ..., min_delta: _Optional[float] = ..., baseline: _Optional[float] = ..., start_step: _Optional[int] = ...) -> None: ...
