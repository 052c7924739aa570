"""Pure learning-rate policy math: configs, state, and the functions over them.

Nothing here imports grpc, protobuf or the store. The LR of step t is
`lr_at(policy, state, t)`; metric reports move the state with `observe`.
"""
from .compose import base_lr_at, lr_at, lr_at_step, restart_steps
from .config import Policy, Schedule
from .cosine_restarts import CosineRestarts
from .early_stopping import EarlyStopping, EarlyStoppingState
from .observe import EVENT_KINDS, Event, observe
from .one_cycle import OneCycle
from .plateau import Plateau, PlateauState
from .preview import Preview, preview
from .schedules import Constant, Cosine, Exponential, Linear, MultiStep, Piecewise, Polynomial, StepDecay
from .state import Override, PolicyState, initial_state, state_from_dict, state_to_dict
from .warmup import Warmup

__all__ = [
    "EVENT_KINDS", "Constant", "Cosine", "CosineRestarts", "EarlyStopping", "EarlyStoppingState", "Event",
    "Exponential", "Linear", "MultiStep", "OneCycle", "Override", "Piecewise", "Plateau", "PlateauState",
    "Policy", "PolicyState", "Polynomial", "Preview", "Schedule", "StepDecay", "Warmup", "base_lr_at",
    "initial_state", "lr_at", "lr_at_step", "observe", "preview", "restart_steps", "state_from_dict",
    "state_to_dict",
]
