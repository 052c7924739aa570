"""lrctl.v1.OptimizerSpec <-> the domain OptimizerConfig (and the snapshot interval).

Each algorithm class is registered under its member name of the `algorithm` oneof and its
message uses torch's argument names, so the message's scalar fields pass straight to the
class (policy_codec's generic translation: an unset `optional` field, or an empty repeated
one, takes torch's default). Violations carry paths relative to the OptimizerSpec
("adam.betas[0]").
"""
from __future__ import annotations

from typing import Any

from lrctl.server import optim
from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.service.policy_codec import scalar_kwargs
from lrctl.v1 import optimizer_pb2

ALGORITHM_MEMBERS = tuple(
    field.name for field in optimizer_pb2.OptimizerSpec.DESCRIPTOR.oneofs_by_name["algorithm"].fields)
"""The oneof's members in the proto's order, for messages."""
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
        violations.append(FieldViolation("algorithm", "set exactly one of " + ", ".join(ALGORITHM_MEMBERS)))
        return None
    kwargs = {name: value for name, value in scalar_kwargs(getattr(spec, kind), frozenset()).items() if value != ()}
    return _collect(lambda: optim.ALGORITHMS[kind](**kwargs), kind, violations)


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
