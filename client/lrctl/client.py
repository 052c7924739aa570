"""The lrctl client: one object per server, handing out job handles."""
from __future__ import annotations

import os
import uuid
from typing import Any, Iterator, Mapping

import grpc

from lrctl.protocol import wire
from lrctl.channel import DEFAULT_LOAD_BALANCING, open_channel, retried, tls_credentials, with_default_port
from lrctl.errors import AlreadyExists, SpecMismatch
from lrctl.job import DEFAULT_HORIZON, Job
from lrctl.optimizer import to_optimizer_spec
from lrctl.outage import DEFAULT_OUTAGE_TOLERANCE
from lrctl.policy import to_policy
from lrctl.spec_diff import spec_differences
from lrctl.transport import Transport
from lrctl.v1 import controller_pb2, optimizer_pb2, policy_pb2

DEFAULT_TIMEOUT = 10.0
DEFAULT_TARGET = "127.0.0.1:50051"
TOKEN_ENV = "LRCTL_TOKEN"
SERVER_ENV = "LRCTL_SERVER"


class Client:
    """`Client("host:port")`. Every call has a deadline (`timeout` seconds); idempotent
    calls are retried on UNAVAILABLE by gRPC itself (see channel.SERVICE_CONFIG); failures
    raise the typed exceptions of lrctl.errors.

    `target` defaults to env LRCTL_SERVER, else 127.0.0.1:50051; a bare host gets port
    50051 (gRPC alone would dial 443). `token` (default: env LRCTL_TOKEN; "" for none) is
    sent as a bearer token on every call: an admin token, or a job's token from
    `create_job(...).token`. TLS is on with `tls=True` or any of `ca_file` (the CA that
    signed the server's certificate; default the system's roots) and `cert_file` +
    `key_file` (the client certificate, for mTLS).

    With replicas, a job's data-plane calls (init_params, step, pull, pull_rows, export) go to
    the replica that holds its arrays: another replica answers with that one's address, and
    the SDK follows it on a channel of its own (same token and TLS; with TLS, the address a
    replica advertises must be a name its certificate covers).
    """

    def __init__(self, target: str | None = None, *, token: str | None = None, tls: bool = False,
                 ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, load_balancing: str = DEFAULT_LOAD_BALANCING,
                 outage_tolerance_seconds: float = DEFAULT_OUTAGE_TOLERANCE) -> None:
        self.target = with_default_port(target or os.environ.get(SERVER_ENV) or DEFAULT_TARGET)
        self.timeout = timeout
        self.token = (os.environ.get(TOKEN_ENV) if token is None else token) or None
        credentials = (tls_credentials(ca_file, cert_file, key_file) if tls or ca_file or cert_file or key_file
                       else None)
        self.channel = open_channel(self.target, token=self.token, credentials=credentials,
                                    load_balancing=load_balancing)

        def dial(address: str) -> grpc.Channel:
            return open_channel(address, token=self.token, credentials=credentials, load_balancing="pick_first")

        self.transport = Transport(self.channel, timeout, self.target, outage_tolerance_seconds, dial)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- jobs ---------------------------------------------------------------------------
    def create_job(self, job_id: str, policy: Mapping[str, Any] | policy_pb2.Policy, *,
                   optimizer: Mapping[str, Any] | optimizer_pb2.OptimizerSpec | None = None,
                   labels: Mapping[str, str] | None = None, idempotency_key: str | None = None,
                   horizon: int = DEFAULT_HORIZON, exist_ok: bool = False) -> Job:
        """Registers a job; retried safely (an idempotency key is always sent). With an
        `optimizer` (e.g. {"adam": {"betas": [0.9, 0.999]}}) the server can also run its steps.

        `exist_ok=True` is the restart pattern: when the job exists with this same spec, its
        handle is returned (`.created` False, `.token` None: the server cannot show a token
        again) and the job goes on from its state on the server; when the spec differs,
        SpecMismatch (an AlreadyExists) names every difference and nothing changes."""
        spec = controller_pb2.JobSpec(policy=to_policy(policy), labels=labels or {})
        if optimizer is not None:
            spec.optimizer.CopyFrom(to_optimizer_spec(optimizer))
        request = controller_pb2.CreateJobRequest(
            job_id=job_id, spec=spec, idempotency_key=idempotency_key or uuid.uuid4().hex)
        try:
            reply = self.transport.call("CreateJob", request)
        except AlreadyExists:
            if not exist_ok:
                raise
            existing = self.transport.call("GetJob", controller_pb2.GetJobRequest(job_id=job_id))
            differences = spec_differences(spec, existing.spec)
            if differences:
                raise SpecMismatch(job_id, differences) from None
            return Job(self.transport, job_id, horizon)
        return Job(self.transport, job_id, horizon, token=reply.token or None, created=True)

    def import_job(self, path: str | os.PathLike[str], job_id: str = "", *,
                   chunk_bytes: int = wire.DEFAULT_CHUNK_BYTES, timeout: float | None = None,
                   idempotency_key: str | None = None) -> Job:
        """Creates a job from a file `Job.export` wrote, under `job_id` or the id in the file;
        it continues where the exported job was (same step, parameters, optimizer and policy state).
        The handle's `.token` is the new job's bearer token. Retried safely (an idempotency key
        is always sent): a retry whose first attempt created the job gets that job back."""
        key = idempotency_key or uuid.uuid4().hex

        def requests() -> Iterator[optimizer_pb2.ImportJobRequest]:
            yield optimizer_pb2.ImportJobRequest(header=optimizer_pb2.ImportHeader(job_id=job_id, idempotency_key=key))
            with open(path, "rb") as file:
                while data := file.read(chunk_bytes):
                    yield optimizer_pb2.ImportJobRequest(data=data)

        reply = self.transport.follow(job_id, lambda transport: retried(
            lambda: transport.call("ImportJob", requests(), timeout)))
        return Job(self.transport, reply.job_id, token=reply.token or None, created=True)

    def job(self, job_id: str, horizon: int = DEFAULT_HORIZON) -> Job:
        """A handle on an existing job, without a call."""
        return Job(self.transport, job_id, horizon)

    def get_job(self, job_id: str, horizon: int = DEFAULT_HORIZON) -> Job:
        """A handle on an existing job; raises NotFound when there is none."""
        self.transport.call("GetJob", controller_pb2.GetJobRequest(job_id=job_id))
        return Job(self.transport, job_id, horizon)

    def jobs(self, page_size: int = 100) -> Iterator[controller_pb2.Job]:
        """Every job, fetched page by page."""
        token = ""
        while True:
            page = self.transport.call("ListJobs", controller_pb2.ListJobsRequest(page_size=page_size, page_token=token))
            yield from page.jobs
            token = page.next_page_token
            if not token:
                return

    def delete_job(self, job_id: str) -> None:
        self.transport.call("DeleteJob", controller_pb2.DeleteJobRequest(job_id=job_id))

    def preview(self, policy: Mapping[str, Any] | policy_pb2.Policy, steps: int,
                metrics: Mapping[int, Mapping[str, float]] | None = None) -> controller_pb2.PreviewScheduleResponse:
        """Dry run: the LR of every step in [0, steps) under the given {step: {metric: value}}."""
        points = [controller_pb2.MetricsAtStep(step=step, metrics=values)
                  for step, values in sorted((metrics or {}).items())]
        return self.transport.call("PreviewSchedule", controller_pb2.PreviewScheduleRequest(
            policy=to_policy(policy), steps=steps, metrics=points))

    def echo(self, payload: bytes = b"") -> bytes:
        """Round trip through the server stack (a connectivity and latency check)."""
        return self.transport.echo(payload)
