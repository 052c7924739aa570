"""What a job's optimizer is: a registered algorithm plus Keras's gradient options.

The algorithms (optim/algorithms, one module each) hold torch.optim's arguments and defaults;
the learning rate is deliberately absent: the data plane takes it from the job's policy at
every step. Every value is checked at construction and one InvalidArgument lists every bad
field with a torch-style message ("Invalid momentum value: -1 (must be >= 0)").
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lrctl.server.optim.algorithms import ALGORITHMS, Algorithm
from lrctl.server.optim.algorithms.adam import Adam
from lrctl.server.validation import Checks, is_real

NONFINITE_POLICIES = ("skip", "reject")


@dataclass(frozen=True)
class GradientOptions:
    """Keras's per-optimizer gradient options, applied before the algorithm sees the gradient.

    As in Keras 3, at most one of clipnorm (each tensor's L2 norm), global_clipnorm (all
    tensors together) and clipvalue (each element) may be set. `decay` is Keras's legacy
    time-based decay: lr_t = lr / (1 + decay * iterations), iterations = steps applied so far.
    `on_nonfinite` decides what a NaN or infinite gradient does: "skip" drops the whole step
    and counts it, "reject" refuses it with INVALID_ARGUMENT; either way nothing is written.
    """

    clipnorm: float | None = None
    global_clipnorm: float | None = None
    clipvalue: float | None = None
    decay: float = 0.0
    on_nonfinite: str = "skip"

    def __post_init__(self) -> None:
        checks = Checks()
        clips = {"clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue}
        for name, value in clips.items():
            checks.require(value is None or (is_real(value) and value > 0), name, value, "must be > 0")
        set_clips = [name for name, value in clips.items() if value is not None]
        if len(set_clips) > 1:
            checks.require(False, set_clips[-1], clips[set_clips[-1]],
                           "only one of clipnorm, global_clipnorm and clipvalue can be set; also set: "
                           + ", ".join(set_clips[:-1]))
        checks.nonnegative("decay", self.decay)
        checks.one_of("on_nonfinite", self.on_nonfinite, NONFINITE_POLICIES)
        checks.raise_if_any()


@dataclass(frozen=True)
class OptimizerConfig:
    """A job's whole optimizer: the algorithm and the gradient options it runs under."""

    algorithm: Algorithm = field(default_factory=Adam)
    gradient: GradientOptions = field(default_factory=GradientOptions)

    def __post_init__(self) -> None:
        checks = Checks()
        names = [cls.__name__ for cls in ALGORITHMS.types()]
        checks.require(isinstance(self.algorithm, ALGORITHMS.types()), "algorithm", self.algorithm,
                       f"must be {', '.join(names[:-1])} or {names[-1]}")
        checks.require(isinstance(self.gradient, GradientOptions), "gradient", self.gradient,
                       "must be GradientOptions")
        checks.raise_if_any()
