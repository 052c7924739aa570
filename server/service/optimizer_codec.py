"""lrctl.v1.OptimizerSpec <-> the domain OptimizerConfig (and the snapshot interval).

The algorithm messages use torch's argument names, so their scalar fields pass straight to
the domain configs (policy_codec's generic translation: an unset `optional` field takes
torch's default). Violations carry paths relative to the OptimizerSpec ("adam.betas[0]").
"""
from __future__ import annotations

from typing import Any

from lrctl.server import optim
from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.service.policy_codec import scalar_kwargs
from lrctl.v1 import optimizer_pb2

ALGORITHMS: dict[str, type] = {
    "sgd": optim.SGD, "adagrad": optim.Adagrad, "rmsprop": optim.RMSprop, "adam": optim.Adam, "adamw": optim.AdamW,
}
DEFAULT_SNAPSHOT_EVERY_STEPS = 1000


def _collect(build: Any, path: str, violations: list[FieldViolation]) -> Any:
    """build(), or None with its violations recorded under `path`."""
    try:
        return build()
    except InvalidArgument as error:
        violations.extend(error.under(path).violations)
        return None


def _algorithm(spec: optimizer_pb2.OptimizerSpec, violations: list[FieldViolation]) -> optim.Algorithm | None:
    kind = spec.WhichOneof("algorithm")
    if kind is None:
        violations.append(FieldViolation("algorithm", "set exactly one of " + ", ".join(ALGORITHMS)))
        return None
    kwargs = scalar_kwargs(getattr(spec, kind), frozenset())
    if kwargs.get("betas") == ():
        del kwargs["betas"]
    return _collect(lambda: ALGORITHMS[kind](**kwargs), kind, violations)


def _gradient_options(spec: optimizer_pb2.OptimizerSpec) -> optim.GradientOptions:
    clips = {name: getattr(spec, name) for name in ("clipnorm", "global_clipnorm", "clipvalue") if spec.HasField(name)}
    nonfinite = {"on_nonfinite": spec.on_nonfinite_gradient} if spec.on_nonfinite_gradient else {}
    try:
        return optim.GradientOptions(**clips, decay=spec.decay, **nonfinite)
    except InvalidArgument as error:
        raise InvalidArgument([FieldViolation(v.field, v.description) if v.field != "on_nonfinite" else
                               FieldViolation("on_nonfinite_gradient",
                                              v.description.replace("on_nonfinite ", "on_nonfinite_gradient "))
                               for v in error.violations]) from None


def optimizer_from_proto(spec: optimizer_pb2.OptimizerSpec) -> tuple[optim.OptimizerConfig, int]:
    """The optimizer and its snapshot interval in steps; InvalidArgument lists every bad field."""
    violations: list[FieldViolation] = []
    algorithm = _algorithm(spec, violations)
    gradient = _collect(lambda: _gradient_options(spec), "", violations)
    if violations:
        raise InvalidArgument(violations)
    every = spec.snapshot_every_steps if spec.HasField("snapshot_every_steps") else DEFAULT_SNAPSHOT_EVERY_STEPS
    return optim.OptimizerConfig(algorithm, gradient), every
