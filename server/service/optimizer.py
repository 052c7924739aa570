"""The Optimizer servicer: streams of messages in, data plane calls, streams out. No logic here.

A streamed call's messages are read on the event loop and handed to the data plane's input
for that call (which only decodes them); everything that takes the job's lock or runs a
kernel goes to the data-plane pool. A call that ends early (refused, cancelled, its client
gone) gives back what it claimed.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any, AsyncIterator

import grpc

from lrctl.protocol import chunk_messages
from lrctl.server.dataplane import Chunk, DataPlane, ParametersInfo, StepInput, StepOutcome
from lrctl.server.dataplane.collect import StepCollector
from lrctl.server.errors import FieldViolation, InvalidArgument, Unavailable
from lrctl.server.jobs import issue_job_token
from lrctl.server.offload import Offload
from lrctl.server.service.status import translated
from lrctl.server.service.tensor_codec import chunk_from_proto, chunk_message, reply_options
from lrctl.v1 import optimizer_pb2, optimizer_pb2_grpc


async def _header(requests: AsyncIterator[Any]) -> Any:
    """The header a client stream must start with."""
    try:
        first = await requests.__anext__()
    except StopAsyncIteration:
        first = None
    if first is None or first.WhichOneof("kind") != "header":
        raise InvalidArgument(FieldViolation("header", "the first message of the stream must be the header"))
    return first.header


async def _rest(requests: AsyncIterator[Any], kind: str, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    """The `kind` field of every message after the header, as messages arrive.

    A stream that ends because its call ended (a message could not be parsed, the client
    cancelled) is refused here, before the data plane could apply what came before it.
    """
    async for message in requests:
        if message.WhichOneof("kind") != kind:
            raise InvalidArgument(FieldViolation("header", "only the first message may be a header"))
        yield getattr(message, kind)
    if context.done() or context.cancelled():
        raise Unavailable("the request stream broke off (a message could not be parsed, or the call ended): "
                          "nothing applied")


async def _chunks(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Chunk]:
    async for chunk in _rest(requests, "chunk", context):
        yield chunk_from_proto(chunk)


def _parameters_header(info: ParametersInfo) -> optimizer_pb2.ParametersHeader:
    return optimizer_pb2.ParametersHeader(server_step=info.server_step, applied_steps=info.applied_steps,
                                          skipped_nonfinite_gradients=info.skipped_nonfinite, elements=info.elements)


def add_optimizer_to_server(servicer: "OptimizerService", server: grpc.aio.Server) -> None:
    """Registers the Optimizer service as the generated add_OptimizerServicer_to_server does,
    but with chunk messages read and written by lrctl.chunk_messages: handlers get a
    ChunkMessage for a chunk it can read (a generated message otherwise) and may answer
    with its bytes."""
    service = optimizer_pb2.DESCRIPTOR.services_by_name["Optimizer"]
    handlers = {method.name: getattr(grpc, f"{chunk_messages.rpc_kind(method)}_rpc_method_handler")(
                    getattr(servicer, method.name),
                    request_deserializer=chunk_messages.deserializer(method.input_type),
                    response_serializer=chunk_messages.serializer(method.output_type))
                for method in service.methods}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)


WAIT_MARGIN_SECONDS = 0.5
"""How long before its deadline a call waiting for other ranks is answered (UNAVAILABLE, retry)."""


class KernelsReady:
    """Whether the data plane's kernels are built (DataPlane.warm_up, started with the server).

    A call that needs them waits, but not past its own deadline: a little before it, the call
    is answered UNAVAILABLE, which the SDK retries with a fresh deadline, so a first Step on a
    fresh install outlasts a compile longer than one deadline instead of failing on it.
    """

    MARGIN_SECONDS = 0.5

    def __init__(self, building: Future) -> None:
        self._building = building

    async def wait(self, context: grpc.aio.ServicerContext) -> None:
        if self._building.done():
            return
        remaining = context.time_remaining()
        timeout = None if remaining is None else max(remaining - self.MARGIN_SECONDS, 0.0)
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._building)), timeout)
        except asyncio.TimeoutError:
            raise Unavailable("the server is still building its optimizer kernels (the first start after an "
                              "install takes seconds): retry") from None


class OptimizerService(optimizer_pb2_grpc.OptimizerServicer):
    def __init__(self, dataplane: DataPlane, offload: Offload, kernels: KernelsReady) -> None:
        self._dataplane = dataplane
        self._offload = offload
        self._kernels = kernels

    @translated
    async def UploadParameters(self, request_iterator: AsyncIterator[optimizer_pb2.UploadParametersRequest],
                               context: grpc.aio.ServicerContext) -> optimizer_pb2.UploadParametersResponse:
        header = await _header(request_iterator)
        upload = await self._offload.steps(self._dataplane.begin_upload, header.job_id)
        try:
            async for chunk in _chunks(request_iterator, context):
                upload.add(chunk)
        except BaseException:
            self._dataplane.abandon_upload(upload)
            raise
        info = await self._offload.steps(self._dataplane.finish_upload, upload)
        return optimizer_pb2.UploadParametersResponse(elements=info.elements, server_step=info.server_step)

    @translated
    async def Step(self, request_iterator: AsyncIterator[optimizer_pb2.StepRequest],
                   context: grpc.aio.ServicerContext) -> AsyncIterator[optimizer_pb2.StepResponse]:
        header = await _header(request_iterator)
        options = reply_options(header.reply_mode, header.reply_dtype, header.reply_chunk_bytes, self._dataplane.limits)
        await self._kernels.wait(context)
        steps = self._dataplane.steps
        step_input = await self._offload.steps(steps.begin, header.job_id, header.step, header.rank, options)
        try:
            async for chunk in _chunks(request_iterator, context):
                step_input.add(chunk)
            contributed = await self._offload.steps(steps.contribute, step_input)
            outcome = contributed.outcome or await self._wait(step_input, contributed.collector, context)
            result, reply = steps.answer(step_input, outcome)
        finally:
            self._offload.steps_later(steps.end, step_input)
        yield optimizer_pb2.StepResponse(result=optimizer_pb2.StepResult(
            step=result.step, lr=result.lr, skipped_nonfinite=result.skipped_nonfinite,
            server_step=result.server_step, duplicate=result.duplicate))
        for chunk in reply:
            yield chunk_message(chunk)

    async def _wait(self, step_input: StepInput, collector: StepCollector,
                    context: grpc.aio.ServicerContext) -> StepOutcome:
        """The step's outcome once its last rank has sent its gradient, waited for without a
        thread. A step still incomplete at its deadline is aborted (ABORTED, naming the missing
        ranks); a little before the call's own deadline, the call ends UNAVAILABLE with its
        gradient still counted, as its client retries."""
        done = asyncio.wrap_future(collector.done)
        while True:
            remaining = context.time_remaining()
            call_left = None if remaining is None else max(remaining - WAIT_MARGIN_SECONDS, 0.0)
            timeout = collector.seconds_left() if call_left is None else min(collector.seconds_left(), call_left)
            try:
                return await asyncio.wait_for(asyncio.shield(done), timeout)
            except asyncio.TimeoutError:
                pass
            if collector.seconds_left() == 0:
                await self._offload.steps(self._dataplane.steps.expire, step_input.slot, collector)
                continue  # `done` now holds the abort, or the outcome of a step completed meanwhile
            missing = await self._offload.steps(self._dataplane.steps.keep, step_input)
            raise Unavailable(f"step {step_input.step} is still waiting for rank(s) {', '.join(map(str, missing))}; "
                              "this rank's gradient stays counted until the step completes or times out: send it "
                              "again")

    @translated
    async def PullParameters(self, request: optimizer_pb2.PullParametersRequest,
                             context: grpc.aio.ServicerContext) -> AsyncIterator[optimizer_pb2.PullParametersResponse]:
        options = reply_options(optimizer_pb2.REPLY_MODE_ALL, request.dtype, request.chunk_bytes,
                                self._dataplane.limits, "chunk_bytes")
        await self._kernels.wait(context)
        info, chunks = await self._offload.steps(self._dataplane.pull, request.job_id, options, tuple(request.names))
        yield optimizer_pb2.PullParametersResponse(header=_parameters_header(info))
        for chunk in chunks:
            yield chunk_message(chunk)

    @translated
    async def PullRows(self, request: optimizer_pb2.PullRowsRequest,
                       context: grpc.aio.ServicerContext) -> AsyncIterator[optimizer_pb2.PullParametersResponse]:
        options = reply_options(optimizer_pb2.REPLY_MODE_ALL, request.dtype, request.chunk_bytes,
                                self._dataplane.limits, "chunk_bytes")
        await self._kernels.wait(context)
        info, chunks = await self._offload.steps(self._dataplane.pull_rows, request.job_id, request.name,
                                                 request.rows, options)
        yield optimizer_pb2.PullParametersResponse(header=_parameters_header(info))
        for chunk in chunks:
            yield chunk_message(chunk)

    @translated
    async def ExportJob(self, request: optimizer_pb2.ExportJobRequest,
                        context: grpc.aio.ServicerContext) -> AsyncIterator[optimizer_pb2.FileChunk]:
        size = reply_options(optimizer_pb2.REPLY_MODE_ALL, optimizer_pb2.DTYPE_FLOAT32, request.chunk_bytes,
                             self._dataplane.limits, "chunk_bytes").chunk_bytes
        data = await self._offload.steps(self._dataplane.export, request.job_id)
        for start in range(0, len(data), size):
            yield optimizer_pb2.FileChunk(data=data[start:start + size])

    @translated
    async def ImportJob(self, request_iterator: AsyncIterator[optimizer_pb2.ImportJobRequest],
                        context: grpc.aio.ServicerContext) -> optimizer_pb2.ImportJobResponse:
        header = await _header(request_iterator)
        received = await self._offload.control(self._dataplane.begin_import, header.job_id)
        async for piece in _rest(request_iterator, "data", context):
            received.add(piece)
        token, token_hash = issue_job_token()
        job_id, step = await self._offload.steps(self._dataplane.import_job, header.job_id, received.data(),
                                                 token_hash, header.idempotency_key)
        return optimizer_pb2.ImportJobResponse(job_id=job_id, server_step=step, token=token)
