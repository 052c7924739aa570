"""The optimizer math of the data plane, optax-shaped: `init` makes state, `update` steps it.

Pure with respect to the outside world: no gRPC, protobuf or store here. Parameters,
gradients and every state slot are flat float32 buffers sharing one `Layout`; a step
updates them in place in one fused pass on the chosen backend. The algorithms are in
`ALGORITHMS`, by their OptimizerSpec oneof member names (algorithms/, one module each).
"""
from lrctl.server.optim.algorithms import ALGORITHMS, Algorithm, TensorAlgorithm
from lrctl.server.optim.algorithms.adagrad import Adagrad
from lrctl.server.optim.algorithms.adam import Adam
from lrctl.server.optim.algorithms.adamw import AdamW
from lrctl.server.optim.algorithms.rmsprop import RMSprop
from lrctl.server.optim.algorithms.sgd import SGD
from lrctl.server.optim.algorithms.nadam import NAdam
from lrctl.server.optim.algorithms.radam import RAdam
from lrctl.server.optim.algorithms.adamax import Adamax
from lrctl.server.optim.algorithms.adadelta import Adadelta
from lrctl.server.optim.algorithms.lion import Lion
from lrctl.server.optim.algorithms.adafactor import Adafactor
from lrctl.server.optim.algorithms.muon import Muon
from lrctl.server.optim.algorithms.lamb import Lamb
from lrctl.server.optim.configs import GradientOptions, OptimizerConfig
from lrctl.server.optim.layout import Layout, TensorSpan
from lrctl.server.optim.rows import RowGradient
from lrctl.server.optim.state import OptimizerState, init, slot_layouts, slot_names
from lrctl.server.optim.update import update, update_rows, update_tensors
from lrctl.server.optim.warm_up import warm_up

__all__ = [
    "ALGORITHMS", "SGD", "Adagrad", "Adam", "AdamW", "Algorithm", "GradientOptions", "Layout", "OptimizerConfig",
    "OptimizerState", "RMSprop", "RowGradient", "TensorSpan", "init", "slot_layouts", "slot_names", "update", "update_rows",
    "update_tensors", "warm_up", "NAdam", "RAdam", "Adamax", "Adadelta", "Lion", "Adafactor", "Muon", "Lamb", "TensorAlgorithm",
]
