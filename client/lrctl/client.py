"""The lrctl client: one object per server, handing out job handles."""
from __future__ import annotations

import os
import uuid
from typing import Any, Iterator, Mapping

import grpc

from lrctl import chunk_messages, wire
from lrctl.channel import open_channel, tls_credentials
from lrctl.errors import from_rpc_error
from lrctl.job import DEFAULT_HORIZON, Job
from lrctl.optimizer import to_optimizer_spec
from lrctl.policy import to_policy
from lrctl.v1 import controller_pb2, controller_pb2_grpc, optimizer_pb2, policy_pb2

DEFAULT_TIMEOUT = 10.0
TOKEN_ENV = "LRCTL_TOKEN"


def _optimizer_methods(channel: grpc.Channel) -> dict[str, Any]:
    """The Optimizer's calls, as the generated stub makes them but with chunk messages
    written and read by lrctl.chunk_messages (requests may be its bytes)."""
    service = optimizer_pb2.DESCRIPTOR.services_by_name["Optimizer"]
    return {method.name: getattr(channel, chunk_messages.rpc_kind(method))(
                f"/{service.full_name}/{method.name}",
                request_serializer=chunk_messages.serializer(method.input_type),
                response_deserializer=chunk_messages.deserializer(method.output_type),
                _registered_method=True)
            for method in service.methods}


class Client:
    """`Client("host:port")`. Every call has a deadline (`timeout` seconds); idempotent
    calls are retried on UNAVAILABLE by gRPC itself (see channel.SERVICE_CONFIG); failures
    raise the typed exceptions of lrctl.errors.

    `token` (default: env LRCTL_TOKEN; "" for none) is sent as a bearer token on every
    call: an admin token, or a job's token from `create_job(...).token`. TLS is on with
    `tls=True` or any of `ca_file` (the CA that signed the server's certificate; default
    the system's roots) and `cert_file` + `key_file` (the client certificate, for mTLS).
    """

    def __init__(self, target: str = "127.0.0.1:50051", *, token: str | None = None, tls: bool = False,
                 ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.target = target
        self.timeout = timeout
        self.token = (os.environ.get(TOKEN_ENV) if token is None else token) or None
        credentials = (tls_credentials(ca_file, cert_file, key_file) if tls or ca_file or cert_file or key_file
                       else None)
        self.channel = open_channel(target, token=self.token, credentials=credentials)
        self._diagnostics = controller_pb2_grpc.DiagnosticsStub(self.channel)
        controller = controller_pb2_grpc.ControllerStub(self.channel)
        self._methods = {name: getattr(controller, name)
                         for name in controller_pb2.DESCRIPTOR.services_by_name["Controller"].methods_by_name}
        self._methods.update(_optimizer_methods(self.channel))

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        """A Controller or Optimizer call that answers one message (unary or client stream)."""
        try:
            return self._methods[method](request, timeout=timeout or self.timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def _stream(self, method: str, request: Any, timeout: float | None, *,
                end_on_cancel: bool = False) -> Iterator[Any]:
        """A call that answers a stream; `timeout` None means no deadline (a watch).

        Only a watch may end quietly when cancelled (the channel closed under it); a
        cancelled data stream raises, since its answer would be incomplete.
        """
        try:
            yield from self._methods[method](request, timeout=timeout)
        except grpc.RpcError as error:
            if end_on_cancel and error.code() == grpc.StatusCode.CANCELLED:
                return
            raise from_rpc_error(error) from None

    # ---- jobs ---------------------------------------------------------------------------
    def create_job(self, job_id: str, policy: Mapping[str, Any] | policy_pb2.Policy, *,
                   optimizer: Mapping[str, Any] | optimizer_pb2.OptimizerSpec | None = None,
                   labels: Mapping[str, str] | None = None, idempotency_key: str | None = None,
                   horizon: int = DEFAULT_HORIZON) -> Job:
        """Registers a job; retried safely (an idempotency key is always sent). With an
        `optimizer` (e.g. {"adam": {"betas": [0.9, 0.999]}}) the server can also run its steps."""
        spec = controller_pb2.JobSpec(policy=to_policy(policy), labels=labels or {})
        if optimizer is not None:
            spec.optimizer.CopyFrom(to_optimizer_spec(optimizer))
        request = controller_pb2.CreateJobRequest(
            job_id=job_id, spec=spec, idempotency_key=idempotency_key or uuid.uuid4().hex)
        reply = self._call("CreateJob", request)
        return Job(self, job_id, horizon, token=reply.token or None)

    def import_job(self, path: str | os.PathLike[str], job_id: str = "", *,
                   chunk_bytes: int = wire.DEFAULT_CHUNK_BYTES, timeout: float | None = None) -> Job:
        """Creates a job from a file `Job.export` wrote, under `job_id` or the id in the file;
        it continues where the exported job was (same step, parameters, optimizer and policy state).
        The handle's `.token` is the new job's bearer token."""
        def requests() -> Iterator[optimizer_pb2.ImportJobRequest]:
            yield optimizer_pb2.ImportJobRequest(header=optimizer_pb2.ImportHeader(job_id=job_id))
            with open(path, "rb") as file:
                while data := file.read(chunk_bytes):
                    yield optimizer_pb2.ImportJobRequest(data=data)

        reply = self._call("ImportJob", requests(), timeout)
        return Job(self, reply.job_id, token=reply.token or None)

    def job(self, job_id: str, horizon: int = DEFAULT_HORIZON) -> Job:
        """A handle on an existing job, without a call."""
        return Job(self, job_id, horizon)

    def get_job(self, job_id: str, horizon: int = DEFAULT_HORIZON) -> Job:
        """A handle on an existing job; raises NotFound when there is none."""
        self._call("GetJob", controller_pb2.GetJobRequest(job_id=job_id))
        return Job(self, job_id, horizon)

    def jobs(self, page_size: int = 100) -> Iterator[controller_pb2.Job]:
        """Every job, fetched page by page."""
        token = ""
        while True:
            page = self._call("ListJobs", controller_pb2.ListJobsRequest(page_size=page_size, page_token=token))
            yield from page.jobs
            token = page.next_page_token
            if not token:
                return

    def delete_job(self, job_id: str) -> None:
        self._call("DeleteJob", controller_pb2.DeleteJobRequest(job_id=job_id))

    def preview(self, policy: Mapping[str, Any] | policy_pb2.Policy, steps: int,
                metrics: Mapping[int, Mapping[str, float]] | None = None) -> controller_pb2.PreviewScheduleResponse:
        """Dry run: the LR of every step in [0, steps) under the given {step: {metric: value}}."""
        points = [controller_pb2.MetricsAtStep(step=step, metrics=values)
                  for step, values in sorted((metrics or {}).items())]
        return self._call("PreviewSchedule", controller_pb2.PreviewScheduleRequest(
            policy=to_policy(policy), steps=steps, metrics=points))

    def echo(self, payload: bytes = b"") -> bytes:
        """Round trip through the server stack (a connectivity and latency check)."""
        try:
            return self._diagnostics.Echo(controller_pb2.EchoMessage(payload=payload), timeout=self.timeout).payload
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
