"""Who may call what: admin tokens, per-job tokens, and the interceptor that checks them.

Auth is on when any admin token is configured (the lines of --admin-token-file, plus the
environment variable LRCTL_ADMIN_TOKEN). Then every lrctl call carries the metadata
`authorization: Bearer <token>`, and ACCESS says which token it needs: an admin token for
operator calls, the job's own token (or an admin token) for a job's calls, any valid token
for calls that touch no job. Health and reflection stay open (probes carry no token).

Job tokens are issued by CreateJob and ImportJob, also while auth is off (so turning it on
later works), and stored only as their sha256 (jobs/tokens.py): the data directory holds no
usable token.

Credentials are admin tokens or mTLS (--tls-client-ca). With mTLS and no admin token,
every client whose certificate the CA signed is fully trusted: the certificate is the
credential, and no call needs a token.
"""
from __future__ import annotations

import enum
import hmac
import ipaddress
import logging
from typing import Any, AsyncIterator, Mapping

import grpc

from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.interception import HandlerCache, around
from lrctl.server.jobs import JobTokens
from lrctl.server.offload import Offload
from lrctl.v1 import server_config_pb2

log = logging.getLogger("lrctl.server.auth")

ADMIN_TOKEN_ENV = "LRCTL_ADMIN_TOKEN"
SHORT_ADMIN_TOKEN = 16


class Access(enum.Enum):
    ADMIN = "admin token"
    JOB = "admin token or the job's token"
    ANY_TOKEN = "any valid token"


_CONTROLLER, _OPTIMIZER, _DIAGNOSTICS = "/lrctl.v1.Controller/", "/lrctl.v1.Optimizer/", "/lrctl.v1.Diagnostics/"
ACCESS: dict[str, Access] = {
    **{_CONTROLLER + m: Access.ADMIN for m in ("CreateJob", "ListJobs", "DeleteJob", "UpdatePolicy",
                                                "SetOverride", "ClearOverride")},
    _OPTIMIZER + "ImportJob": Access.ADMIN,
    **{_CONTROLLER + m: Access.JOB for m in ("GetJob", "GetLearningRate", "ReportMetrics", "WatchJob",
                                              "ListJobEvents")},
    **{_OPTIMIZER + m: Access.JOB for m in ("UploadParameters", "Step", "PullParameters", "PullRows", "ExportJob")},
    _CONTROLLER + "PreviewSchedule": Access.ANY_TOKEN,
    _DIAGNOSTICS + "Echo": Access.ANY_TOKEN,
    _DIAGNOSTICS + "EchoStream": Access.ANY_TOKEN,
}
"""The one table of who may call what. A method of ours missing here is refused to everyone."""
OPEN_SERVICES = frozenset({"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                           "grpc.reflection.v1.ServerReflection"})


def load_admin_tokens(path: str, env: Mapping[str, str]) -> tuple[str, ...]:
    """The lines of `path` (blank and '#' lines skipped) and env LRCTL_ADMIN_TOKEN, if set."""
    tokens: list[str] = []
    if path:
        try:
            lines = open(path, encoding="utf-8").read().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise InvalidArgument(FieldViolation("admin_token_file", f"cannot read {path}: {error}")) from None
        tokens += [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if env.get(ADMIN_TOKEN_ENV, "").strip():
        tokens.append(env[ADMIN_TOKEN_ENV].strip())
    if any(len(token) < SHORT_ADMIN_TOKEN for token in tokens):
        log.warning("an admin token is shorter than %d characters; use a long random one", SHORT_ADMIN_TOKEN)
    return tuple(tokens)


# ---- where the server may listen -------------------------------------------------------
def has_credentials(admin_tokens: tuple[str, ...], config: server_config_pb2.ServerConfig) -> bool:
    return bool(admin_tokens or config.tls_client_ca)


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen_address(listen: str, credentials: bool, allow_unauthenticated: bool) -> str:
    """`listen`, or 127.0.0.1 with its port when nobody would need a credential to call a
    non-loopback address (unless the operator allowed exactly that)."""
    host, _, port = listen.rpartition(":")
    if credentials or allow_unauthenticated or is_loopback(host):
        return listen
    return f"127.0.0.1:{port}"


# ---- the interceptor -------------------------------------------------------------------
class _Refused(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _bearer(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise _Refused(grpc.StatusCode.UNAUTHENTICATED, "authorization metadata must be 'Bearer <token>'")
            return token.strip()
    raise _Refused(grpc.StatusCode.UNAUTHENTICATED,
                   "missing bearer token: send metadata 'authorization: Bearer <token>' "
                   "(an admin token, or the job's token from CreateJob)")


def _header_job_id(message: Any) -> str:
    """The job id in the header that starts a client stream ("" when the stream has none)."""
    if message is None or message.WhichOneof("kind") != "header":
        return ""
    return message.header.job_id


async def _chained(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The request stream as it was before its first message was read here."""
    if first is not None:
        yield first
    async for message in rest:
        yield message


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Checks every lrctl call's token against ACCESS before the servicer sees the call.

    The job a call names comes from request.job_id, or, for client streams, from the
    header of the first message: that message is read here and handed on unchanged.
    Missing or unknown token: UNAUTHENTICATED. A job token on another job's call or on an
    operator call: PERMISSION_DENIED. Put it after GrpcMetricsInterceptor so refusals are
    counted with their codes. A token not yet in the tokens' cache is looked up in the store
    on the control-plane pool.
    """

    def __init__(self, admin_tokens: tuple[str, ...], job_tokens: JobTokens, offload: Offload) -> None:
        self._admin = tuple(token.encode() for token in admin_tokens)
        self._job_tokens = job_tokens
        self._offload = offload
        self._handlers = HandlerCache()

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.lstrip("/").rpartition("/")[0] in OPEN_SERVICES:
            return handler
        access = ACCESS.get(method)
        return self._handlers.get(method, handler, lambda h: around(h, self._checker(method, access, h)))

    async def _caller(self, method: str, access: Access | None, context: grpc.aio.ServicerContext) -> str | None:
        """None for an admin, else the job id the caller's job token grants; refuses
        calls the token cannot make whatever job they name."""
        token = _bearer(context.invocation_metadata())
        encoded = token.encode()
        admin = False
        for candidate in self._admin:
            admin |= hmac.compare_digest(encoded, candidate)
        job_id = None
        if not admin:
            job_id = self._job_tokens.cached_job_of(token) or await self._offload.control(self._job_tokens.job_of,
                                                                                           token)
        if not admin and job_id is None:
            raise _Refused(grpc.StatusCode.UNAUTHENTICATED,
                           "invalid bearer token: neither an admin token nor the token of an existing job")
        if access is None:
            raise _Refused(grpc.StatusCode.PERMISSION_DENIED, f"{method} has no access rule; refused")
        if job_id is not None and access is Access.ADMIN:
            raise _Refused(grpc.StatusCode.PERMISSION_DENIED,
                           f"{method} needs an admin token; a job token grants only its own job's calls")
        return job_id

    @staticmethod
    def _check_job(method: str, caller: str | None, access: Access | None, job_id: str) -> None:
        if caller is not None and access is Access.JOB and job_id != caller:
            raise _Refused(grpc.StatusCode.PERMISSION_DENIED,
                           f"this token grants job {caller!r} only, not {job_id!r}" if job_id
                           else f"this token grants job {caller!r} only, and {method} names no job")

    def _checker(self, method: str, access: Access | None, handler: grpc.RpcMethodHandler):
        async def check(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                caller = await self._caller(method, access, context)
                if caller is not None and access is Access.JOB:
                    if handler.request_streaming:
                        try:
                            first = await request.__anext__()
                        except StopAsyncIteration:
                            first = None
                        self._check_job(method, caller, access, _header_job_id(first))
                        request = _chained(first, request)
                    else:
                        self._check_job(method, caller, access, getattr(request, "job_id", ""))
            except _Refused as refused:
                await context.abort(refused.code, str(refused))
            return request
        return check
