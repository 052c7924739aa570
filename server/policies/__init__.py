"""Pure learning-rate policy math: configs, state, and the functions over them.

Nothing here imports grpc, protobuf or the store. The LR of step t is
`lr_at(policy, state, t)`; metric reports move the state with `observe`. The schedules are
in `SCHEDULES`, by their Schedule oneof member names (schedules/, one module each).
"""
from .compose import base_lr_at, check_lrs_finite, lr_at, lr_at_step, restarts_between
from .config import Policy
from .early_stopping import EarlyStopping, EarlyStoppingState
from .events import EVENT_KINDS, JOB_EVENT_KINDS, Event
from .observe import observe
from .plateau import Plateau, PlateauState
from .preview import Preview, preview
from .schedules import SCHEDULES, Schedule
from .schedules.chained import Chained
from .schedules.constant import Constant
from .schedules.cosine import Cosine
from .schedules.cosine_restarts import CosineRestarts
from .schedules.cyclic import Cyclic
from .schedules.exponential import Exponential
from .schedules.inverse_sqrt import InverseSqrt
from .schedules.inverse_time import InverseTime
from .schedules.linear import Linear
from .schedules.multistep import MultiStep
from .schedules.one_cycle import OneCycle
from .schedules.piecewise import Piecewise
from .schedules.polynomial import Polynomial
from .schedules.sequential import Sequential
from .schedules.step_decay import StepDecay
from .schedules.wsd import Wsd
from .state import Override, PolicyState, initial_state, state_from_dict, state_to_dict
from .warmup import Warmup

__all__ = [
    "EVENT_KINDS", "JOB_EVENT_KINDS", "SCHEDULES", "Chained", "Constant", "Cosine", "CosineRestarts", "Cyclic",
    "EarlyStopping", "EarlyStoppingState", "Event", "Exponential", "InverseSqrt", "InverseTime", "Linear", "MultiStep",
    "OneCycle", "Override", "Piecewise", "Plateau", "PlateauState", "Policy", "PolicyState", "Polynomial", "Preview",
    "Schedule", "Sequential", "StepDecay", "Warmup", "Wsd",
    "base_lr_at", "check_lrs_finite", "initial_state", "lr_at", "lr_at_step", "observe", "preview", "restarts_between", "state_from_dict",
    "state_to_dict",
]
