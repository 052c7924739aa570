"""The Optimizer servicer: streams of messages in, data plane calls, streams out. No logic here."""
from __future__ import annotations

from typing import Any, Iterator

import grpc

from lrctl import chunk_messages
from lrctl.server.auth import issue_job_token
from lrctl.server.dataplane import Chunk, DataPlane, ParametersInfo
from lrctl.server.errors import FieldViolation, InvalidArgument, Unavailable
from lrctl.server.service.status import translated
from lrctl.server.service.tensor_codec import chunk_from_proto, chunk_message, reply_options
from lrctl.v1 import optimizer_pb2, optimizer_pb2_grpc


def _header(requests: Iterator[Any]) -> Any:
    """The header a client stream must start with."""
    first = next(requests, None)
    if first is None or first.WhichOneof("kind") != "header":
        raise InvalidArgument(FieldViolation("header", "the first message of the stream must be the header"))
    return first.header


def _rest(requests: Iterator[Any], kind: str, context: grpc.ServicerContext) -> Iterator[Any]:
    """The `kind` field of every message after the header, read lazily as messages arrive.

    gRPC ends the request iterator quietly when a message cannot be parsed (it answers
    INTERNAL itself), so an ended stream on a dead call is refused here, before the data
    plane could apply the messages that came before it.
    """
    for message in requests:
        if message.WhichOneof("kind") != kind:
            raise InvalidArgument(FieldViolation("header", "only the first message may be a header"))
        yield getattr(message, kind)
    if not context.is_active():
        raise Unavailable("the request stream broke off (a message could not be parsed, or the call ended): "
                          "nothing applied")


def _chunks(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Chunk]:
    return (chunk_from_proto(chunk) for chunk in _rest(requests, "chunk", context))


def _parameters_header(info: ParametersInfo) -> optimizer_pb2.ParametersHeader:
    return optimizer_pb2.ParametersHeader(server_step=info.server_step, applied_steps=info.applied_steps,
                                          skipped_nonfinite_gradients=info.skipped_nonfinite, elements=info.elements)


def add_optimizer_to_server(servicer: "OptimizerService", server: grpc.Server) -> None:
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


class OptimizerService(optimizer_pb2_grpc.OptimizerServicer):
    def __init__(self, dataplane: DataPlane) -> None:
        self._dataplane = dataplane

    @translated
    def UploadParameters(self, request_iterator: Iterator[optimizer_pb2.UploadParametersRequest],
                         context: grpc.ServicerContext) -> optimizer_pb2.UploadParametersResponse:
        header = _header(request_iterator)
        info = self._dataplane.upload(header.job_id, _chunks(request_iterator, context))
        return optimizer_pb2.UploadParametersResponse(elements=info.elements, server_step=info.server_step)

    @translated
    def Step(self, request_iterator: Iterator[optimizer_pb2.StepRequest],
             context: grpc.ServicerContext) -> Iterator[optimizer_pb2.StepResponse]:
        header = _header(request_iterator)
        options = reply_options(header.reply_mode, header.reply_dtype, header.reply_chunk_bytes, self._dataplane.limits)
        result, reply = self._dataplane.step(header.job_id, header.step, _chunks(request_iterator, context), options)
        yield optimizer_pb2.StepResponse(result=optimizer_pb2.StepResult(
            step=result.step, lr=result.lr, skipped_nonfinite=result.skipped_nonfinite,
            server_step=result.server_step, duplicate=result.duplicate))
        for chunk in reply:
            yield chunk_message(chunk)

    @translated
    def PullParameters(self, request: optimizer_pb2.PullParametersRequest,
                       context: grpc.ServicerContext) -> Iterator[optimizer_pb2.PullParametersResponse]:
        options = reply_options(optimizer_pb2.REPLY_MODE_ALL, request.dtype, request.chunk_bytes,
                                self._dataplane.limits, "chunk_bytes")
        info, chunks = self._dataplane.pull(request.job_id, options)
        yield optimizer_pb2.PullParametersResponse(header=_parameters_header(info))
        for chunk in chunks:
            yield chunk_message(chunk)

    @translated
    def ExportJob(self, request: optimizer_pb2.ExportJobRequest,
                  context: grpc.ServicerContext) -> Iterator[optimizer_pb2.FileChunk]:
        size = reply_options(optimizer_pb2.REPLY_MODE_ALL, optimizer_pb2.DTYPE_FLOAT32, request.chunk_bytes,
                             self._dataplane.limits, "chunk_bytes").chunk_bytes
        data = self._dataplane.export(request.job_id)
        for start in range(0, len(data), size):
            yield optimizer_pb2.FileChunk(data=data[start:start + size])

    @translated
    def ImportJob(self, request_iterator: Iterator[optimizer_pb2.ImportJobRequest],
                  context: grpc.ServicerContext) -> optimizer_pb2.ImportJobResponse:
        header = _header(request_iterator)
        data = self._dataplane.receive_import(header.job_id, _rest(request_iterator, "data", context))
        token, token_hash = issue_job_token()
        job_id, step = self._dataplane.import_job(header.job_id, data, token_hash)
        return optimizer_pb2.ImportJobResponse(job_id=job_id, server_step=step, token=token)
