"""Typed exceptions for every gRPC status lrctl returns, with the details decoded.

`InvalidArgument.field_violations` lists (field, description) pairs from
google.rpc.BadRequest; `FailedPrecondition.server_step` is the server's step when the
error was a stale or future step, so a caller can resync without another call; `owner` is the
lrctl.v1.DataPlaneOwner of a data-plane call that reached a replica other than the one holding
the job's arrays (FAILED_PRECONDITION: go there; UNAVAILABLE: it is down).
`reason` is the message without its status code; for a server that cannot be reached it
names the likely mistake (nothing listening, or an HTTP port such as /metrics).
"""
from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from lrctl.v1 import controller_pb2, optimizer_pb2


class LrctlError(Exception):
    """Base of every error the SDK raises for a failed call."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, field_violations: list[tuple[str, str]] | None = None,
                 server_step: int | None = None, *, reason: str | None = None,
                 owner: optimizer_pb2.DataPlaneOwner | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = message.split(": ", 1)[-1] if reason is None else reason
        self.field_violations = field_violations or []
        self.server_step = server_step
        self.owner = owner


class InvalidArgument(LrctlError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(LrctlError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(LrctlError):
    code = grpc.StatusCode.ALREADY_EXISTS


class SpecMismatch(AlreadyExists):
    """`create_job(..., exist_ok=True)` found the job with another spec; `differences` are
    lines like "policy.lr: 0.1 here, 0.05 on the server"."""

    def __init__(self, job_id: str, differences: list[str]) -> None:
        reason = f"job {job_id!r} exists with another spec: {'; '.join(differences)}"
        super().__init__(f"ALREADY_EXISTS: {reason}", reason=reason)
        self.job_id = job_id
        self.differences = differences


class FailedPrecondition(LrctlError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(LrctlError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unauthenticated(LrctlError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(LrctlError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(LrctlError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(LrctlError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Aborted(LrctlError):
    """The call lost to something concurrent and changed nothing: a data-parallel step whose
    ranks did not all arrive in time (the message names the missing ones), or a job changed
    concurrently on another replica. Sending the call again is safe."""

    code = grpc.StatusCode.ABORTED


ERRORS_BY_CODE = {cls.code: cls for cls in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition,
                                            ResourceExhausted, Unauthenticated, PermissionDenied,
                                            Unavailable, DeadlineExceeded, Aborted)}


def unreachable_hint(details: str, target: str) -> str | None:
    """What a failed connection most likely means, from gRPC's description of it."""
    where = target or "the server"
    if "Connection refused" in details:
        return f"cannot connect to {where} (connection refused): is `lrctl serve` running at {where}?"
    if "HTTP/2" in details or "http1" in details.lower():
        return (f"{where} answered, but not with gRPC: is it an HTTP port such as the metrics port "
                "(--metrics-port, default 9108)? Give the address `lrctl serve` prints as 'serving on'")
    if "DNS resolution failed" in details or "Name or service not known" in details:
        return f"cannot resolve the host of {where}"
    return None


def from_rpc_error(error: grpc.RpcError, target: str = "") -> LrctlError:
    """The typed exception for a failed call, with BadRequest / StepConflict / DataPlaneOwner
    details decoded; `target` (the address dialled) lets an unreachable server's error name it."""
    violations: list[tuple[str, str]] = []
    server_step = None
    owner = None
    status = rpc_status.from_call(error) if isinstance(error, grpc.Call) else None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations += [(v.field, v.description) for v in bad_request.field_violations]
        elif detail.Is(controller_pb2.StepConflict.DESCRIPTOR):
            conflict = controller_pb2.StepConflict()
            detail.Unpack(conflict)
            server_step = conflict.server_step
        elif detail.Is(optimizer_pb2.DataPlaneOwner.DESCRIPTOR):
            owner = optimizer_pb2.DataPlaneOwner()
            detail.Unpack(owner)
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (error.details() if isinstance(error, grpc.Call) else str(error)) or ""
    reason = (unreachable_hint(details, target) if code == grpc.StatusCode.UNAVAILABLE else None) or details
    cls = ERRORS_BY_CODE.get(code, LrctlError)
    exc = cls(f"{code.name}: {reason}", violations, server_step, reason=reason, owner=owner)
    exc.code = code
    return exc
