"""The optimizer math of the data plane, optax-shaped: `init` makes state, `update` steps it.

Pure with respect to the outside world: no gRPC, protobuf or store here. Parameters,
gradients and every state slot are flat float32 buffers sharing one `Layout`; a step
updates them in place in one fused pass on the chosen backend.
"""
from lrctl.server.optim.configs import (
    SGD, Adagrad, Adam, AdamW, Algorithm, GradientOptions, OptimizerConfig, RMSprop,
)
from lrctl.server.optim.layout import Layout, TensorSpan
from lrctl.server.optim.rows import RowGradient
from lrctl.server.optim.state import OptimizerState, init, slot_names
from lrctl.server.optim.update import update, update_rows, update_tensors

__all__ = [
    "SGD", "Adagrad", "Adam", "AdamW", "Algorithm", "GradientOptions", "Layout", "OptimizerConfig",
    "OptimizerState", "RMSprop", "RowGradient", "TensorSpan", "init", "slot_names", "update", "update_rows",
    "update_tensors",
]
