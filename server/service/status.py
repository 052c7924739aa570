"""The one table from domain exceptions to gRPC status codes, with rich error details.

InvalidArgument carries google.rpc.BadRequest field violations; a stale or future step
carries lrctl.v1.StepConflict with the server's step so a client can resync; a data-plane call
on a replica that does not hold the job carries lrctl.v1.DataPlaneOwner with the address of
the one that does.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, NoReturn

import grpc
from google.rpc import error_details_pb2, status_pb2
from google.protobuf.message import Message
from grpc_status import rpc_status

from lrctl.server import deadlines
from lrctl.server.errors import (
    Aborted,
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    LrctlError,
    NotFound,
    NotOwner,
    OwnerDown,
    ResourceExhausted,
    Unavailable,
)
from lrctl.server.service.request_limits import check_request
from lrctl.v1 import controller_pb2, optimizer_pb2

STATUS_CODES: dict[type[LrctlError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    Aborted: grpc.StatusCode.ABORTED,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def to_status(error: LrctlError) -> status_pb2.Status:
    code = next(c for kind, c in STATUS_CODES.items() if isinstance(error, kind))
    status = status_pb2.Status(code=code.value[0], message=str(error))
    if isinstance(error, InvalidArgument):
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in error.violations]))
    if isinstance(error, FailedPrecondition) and error.server_step is not None:
        status.details.add().Pack(controller_pb2.StepConflict(
            server_step=error.server_step, requested_step=error.requested_step or 0))
    if isinstance(error, (NotOwner, OwnerDown)):
        owner = error.owner
        status.details.add().Pack(optimizer_pb2.DataPlaneOwner(job_id=owner.job_id, address=owner.address,
                                                               replica_id=owner.replica_id, epoch=owner.epoch))
    return status


async def abort(context: grpc.aio.ServicerContext, error: LrctlError) -> NoReturn:
    await context.abort_with_status(rpc_status.to_status(to_status(error)))
    raise AssertionError("abort_with_status returned")  # grpc raises; keeps NoReturn honest


def translated(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps an async servicer method (a coroutine, or an async generator for a response
    stream) so domain errors become statuses; a single request message is first held to the
    field limits of request_limits (a streamed one's header is, by the servicer). The call's
    deadline is set for the work done for it (lrctl.server.deadlines)."""
    if inspect.isasyncgenfunction(method):
        @functools.wraps(method)
        async def stream(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                if isinstance(request, Message):
                    check_request(request)
                with deadlines.serving(context.time_remaining()):
                    async for response in method(self, request, context):
                        yield response
            except LrctlError as error:
                await abort(context, error)
        return stream

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            if isinstance(request, Message):
                check_request(request)
            with deadlines.serving(context.time_remaining()):
                return await method(self, request, context)
        except LrctlError as error:
            await abort(context, error)
    return unary
