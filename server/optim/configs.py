"""What a job's optimizer is: torch.optim's arguments and defaults, plus Keras's gradient options.

The learning rate is deliberately absent: the data plane takes it from the job's policy at
every step. Every value is checked at construction and one InvalidArgument lists every bad
field with a torch-style message ("Invalid momentum value: -1 (must be >= 0)").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from lrctl.server.validation import Checks, is_real

NONFINITE_POLICIES = ("skip", "reject")


def _nonnegative(checks: Checks, name: str, value: object) -> None:
    checks.require(is_real(value) and value >= 0, name, value, "must be >= 0")


@dataclass(frozen=True)
class SGD:
    """torch.optim.SGD: heavy-ball momentum (buffer starts as the first gradient), optional Nesterov."""

    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        checks = Checks()
        _nonnegative(checks, "momentum", self.momentum)
        checks.require(is_real(self.dampening), "dampening", self.dampening, "must be a finite number")
        _nonnegative(checks, "weight_decay", self.weight_decay)
        checks.require(
            not self.nesterov or (is_real(self.momentum) and self.momentum > 0 and self.dampening == 0),
            "nesterov", self.nesterov, "Nesterov momentum requires a momentum and zero dampening",
        )
        checks.raise_if_any()


@dataclass(frozen=True)
class Adagrad:
    """torch.optim.Adagrad: the step size decays as lr / (1 + (t - 1) * lr_decay)."""

    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10

    def __post_init__(self) -> None:
        checks = Checks()
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            _nonnegative(checks, name, getattr(self, name))
        checks.raise_if_any()


@dataclass(frozen=True)
class RMSprop:
    """torch.optim.RMSprop (Keras calls alpha `rho`); eps is added after the square root."""

    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_real(self.alpha) and 0 <= self.alpha <= 1, "alpha", self.alpha, "must be in [0, 1]")
        for name in ("eps", "weight_decay", "momentum"):
            _nonnegative(checks, name, getattr(self, name))
        checks.raise_if_any()


@dataclass(frozen=True)
class Adam:
    """torch.optim.Adam: weight_decay is coupled (L2 added to the gradient) unless decoupled."""

    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False
    decoupled_weight_decay: bool = False

    def __post_init__(self) -> None:
        checks = Checks()
        pair = isinstance(self.betas, (tuple, list)) and len(self.betas) == 2
        if pair:
            object.__setattr__(self, "betas", tuple(self.betas))
        checks.require(pair, "betas", self.betas, "must be a pair (beta1, beta2)")
        for index, beta in enumerate(self.betas if pair else ()):
            checks.require(is_real(beta) and 0 <= beta < 1, f"betas[{index}]", beta, "must be in [0, 1)")
        _nonnegative(checks, "eps", self.eps)
        _nonnegative(checks, "weight_decay", self.weight_decay)
        checks.raise_if_any()


@dataclass(frozen=True)
class AdamW(Adam):
    """torch.optim.AdamW: Adam whose weight decay multiplies the parameter by (1 - lr * wd)."""

    weight_decay: float = 1e-2
    decoupled_weight_decay: bool = field(default=True, init=False)


Algorithm = Union[SGD, Adagrad, RMSprop, Adam]
"""Every optimizer family; AdamW is an Adam."""


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
        _nonnegative(checks, "decay", self.decay)
        checks.one_of("on_nonfinite", self.on_nonfinite, NONFINITE_POLICIES)
        checks.raise_if_any()


@dataclass(frozen=True)
class OptimizerConfig:
    """A job's whole optimizer: the algorithm and the gradient options it runs under."""

    algorithm: Algorithm = field(default_factory=Adam)
    gradient: GradientOptions = field(default_factory=GradientOptions)

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(isinstance(self.algorithm, (SGD, Adagrad, RMSprop, Adam)), "algorithm", self.algorithm,
                       "must be SGD, Adagrad, RMSprop, Adam or AdamW")
        checks.require(isinstance(self.gradient, GradientOptions), "gradient", self.gradient,
                       "must be GradientOptions")
        checks.raise_if_any()
