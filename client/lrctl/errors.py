"""Typed exceptions for every gRPC status lrctl returns, with the details decoded.

`InvalidArgument.field_violations` lists (field, description) pairs from
google.rpc.BadRequest; `FailedPrecondition.server_step` is the server's step when the
error was a stale or future step, so a caller can resync without another call.
"""
from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from lrctl.v1 import controller_pb2


class LrctlError(Exception):
    """Base of every error the SDK raises for a failed call."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, field_violations: list[tuple[str, str]] | None = None,
                 server_step: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_violations = field_violations or []
        self.server_step = server_step


class InvalidArgument(LrctlError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(LrctlError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(LrctlError):
    code = grpc.StatusCode.ALREADY_EXISTS


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


ERRORS_BY_CODE = {cls.code: cls for cls in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition,
                                            ResourceExhausted, Unauthenticated, PermissionDenied,
                                            Unavailable, DeadlineExceeded)}


def from_rpc_error(error: grpc.RpcError) -> LrctlError:
    """The typed exception for a failed call, with BadRequest / StepConflict details decoded."""
    violations: list[tuple[str, str]] = []
    server_step = None
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
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = error.details() if isinstance(error, grpc.Call) else str(error)
    cls = ERRORS_BY_CODE.get(code, LrctlError)
    exc = cls(f"{code.name}: {details}", violations, server_step)
    exc.code = code
    return exc
