"""Wiring: data dir lock, store, jobs, data plane, servicers, interceptors, health, reflection
and signals into one running event-loop server (grpc.aio).

The event loop only moves messages; blocking work runs on the bounded pools of `Offload`, so an
open stream (a watch, a health Watch, a Step waiting for its client) costs a coroutine and its
buffers, never a thread.
"""
from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import pathlib
import signal
import socket
from concurrent.futures import Future

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from lrctl.server import auth, tls
from lrctl.server.backends import select_backend
from lrctl.server.dataplane import DataPlane, DataPlaneLimits, SnapshotStore
from lrctl.server.dataplane.ownership import HEARTBEAT_SECONDS, OWNER_SILENCE_SECONDS, Ownership
from lrctl.server.datadir import DataDirLock, replica_id
from lrctl.server.errors import FailedPrecondition, LrctlError
from lrctl.server.grpc_metrics import GrpcMetricsInterceptor
from lrctl.server.jobs import JobRegistry, Limits
from lrctl.server.metrics import ServerMetrics
from lrctl.server.offload import Offload
from lrctl.server.request_parsing import RequestParsingInterceptor
from lrctl.server.service.controller import ControllerService, PreviewGate
from lrctl.server.service.diagnostics import DiagnosticsService
from lrctl.server.service.health import HealthServicer
from lrctl.server.service.job_codec import spec_from_document
from lrctl.server.service.optimizer import KernelsReady, OptimizerService, add_optimizer_to_server
from lrctl.server.store import default_store_url, open_store
from lrctl.server.stream_limits import StreamLimitsInterceptor
from lrctl.v1 import controller_pb2, controller_pb2_grpc, optimizer_pb2, server_config_pb2

log = logging.getLogger("lrctl.server")

SERVICES = (controller_pb2.DESCRIPTOR.services_by_name["Controller"],
            controller_pb2.DESCRIPTOR.services_by_name["Diagnostics"],
            optimizer_pb2.DESCRIPTOR.services_by_name["Optimizer"])
SERVICE_NAMES = tuple(service.full_name for service in SERVICES)
OPTIMIZER = optimizer_pb2.DESCRIPTOR.services_by_name["Optimizer"].full_name
EXPIRY_SECONDS = 0.25
GC_THRESHOLDS = (50_000, 20, 100)
"""Python's cyclic collector, tuned for a server holding thousands of streams: with the default
(700, 10, 10) a full collection walks every open stream's objects often, and with 4,200 streams
open GetLearningRate's p99 went from 84 to 633 ms (pauses up to 340 ms); with these thresholds
it stayed at 1.1x (bench/open_streams.py). Nearly everything is freed by reference counting;
the collector only reclaims cycles, which a larger first generation collects just as well."""


def channel_options(config: server_config_pb2.ServerConfig) -> list[tuple[str, int]]:
    """gRPC server options: message size; no SO_REUSEPORT, so a second server on a taken port
    fails to start instead of sharing it; and the keepalive and connection-age settings that
    end the calls of a vanished or frozen client instead of leaving them open until the TCP
    stack gives up, hours later."""
    options = [("grpc.max_receive_message_length", config.max_message_bytes),
               ("grpc.max_send_message_length", config.max_message_bytes),
               ("grpc.so_reuseport", 0),
               # Calls wait in gRPC core until the event loop takes them; a burst of new streams
               # (every watcher reconnecting after a restart) must queue there, not be cancelled
               # at core's default of 1,000 waiting calls.
               ("grpc.server.max_pending_requests", config.max_streams),
               ("grpc.server.max_pending_requests_hard_limit", 2 * config.max_streams),
               ("grpc.keepalive_time_ms", int(config.keepalive_seconds * 1000)),
               ("grpc.keepalive_timeout_ms", int(config.keepalive_timeout_seconds * 1000)),
               # What closes a connection whose ping goes unanswered is the ping timeout (default
               # 60 s): gRPC core (1.85) does not arm a separate keepalive-timeout timer.
               ("grpc.http2.ping_timeout_ms", int(config.keepalive_timeout_seconds * 1000)),
               ("grpc.keepalive_permit_without_calls", 1),
               ("grpc.http2.max_pings_without_data", 0),
               # Clients may ping as often as every 10 s (the SDK pings every 30 s) without being
               # told to calm down (GOAWAY "too_many_pings").
               ("grpc.http2.min_ping_interval_without_data_ms", 10_000)]
    if config.max_connection_age_seconds:
        options += [("grpc.max_connection_age_ms", int(config.max_connection_age_seconds * 1000)),
                    ("grpc.max_connection_age_grace_ms", int(config.max_connection_age_grace_seconds * 1000))]
    return options


class LrctlServer:
    """One lrctl server process: build it inside the running event loop; start() binds and
    serves, stop() drains, snapshots and closes the store."""

    def __init__(self, config: server_config_pb2.ServerConfig) -> None:
        self.config = config
        admin_tokens = auth.load_admin_tokens(config.admin_token_file, os.environ)
        credentials = tls.server_credentials(config)
        self.listen = auth.listen_address(config.listen, auth.has_credentials(admin_tokens, config),
                                          config.allow_unauthenticated)
        self._lock = DataDirLock(config.data_dir)
        self.metrics = ServerMetrics(config.metrics_job_label_cap)
        self.store = open_store(config.store or default_store_url(config.data_dir))
        self.ownership = Ownership(self.store, replica_id(config.data_dir))
        self.jobs = JobRegistry(self.store, spec_from_document, self.metrics, Limits(
            max_jobs=config.max_jobs, max_metrics_per_report=config.max_metrics_per_report,
            max_watchers_per_job=config.max_watchers_per_job))
        self.backend = select_backend(config.device)
        self.dataplane = DataPlane(self.jobs, self.backend, SnapshotStore(pathlib.Path(config.data_dir) / "snapshots"),
                                   self.metrics, self.ownership,
                                   DataPlaneLimits(max_elements_per_job=config.max_elements_per_job,
                                                   max_optimizer_state_bytes=config.max_optimizer_state_bytes,
                                                   max_chunk_bytes=config.max_chunk_bytes))
        self.offload = Offload(config.workers, config.step_workers)
        self.health = HealthServicer()
        grpc_metrics = GrpcMetricsInterceptor(self.metrics)
        for service in SERVICES:
            grpc_metrics.initialize_service(service)
        self.stream_limits = StreamLimitsInterceptor(config.max_streams, config.max_streams_per_connection)
        interceptors: list[grpc.aio.ServerInterceptor] = [grpc_metrics, RequestParsingInterceptor(),
                                                          self.stream_limits]
        if admin_tokens:
            interceptors.append(auth.AuthInterceptor(admin_tokens, self.jobs.tokens, self.offload))
        self.grpc_server = grpc.aio.server(interceptors=interceptors, options=channel_options(config))
        previews = PreviewGate(max(1, config.workers // 4))
        controller_pb2_grpc.add_ControllerServicer_to_server(ControllerService(self.jobs, self.offload, previews),
                                                             self.grpc_server)
        controller_pb2_grpc.add_DiagnosticsServicer_to_server(DiagnosticsService(), self.grpc_server)
        self._kernels: Future[None] = Future()
        add_optimizer_to_server(OptimizerService(self.dataplane, self.offload, KernelsReady(self._kernels)),
                                self.grpc_server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc_server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self.grpc_server)
        self.port = self._bind(credentials)
        _log_access(config, admin_tokens, self.listen, self.address)
        self._stopping = False
        self._sweeper: asyncio.Task | None = None
        self._heartbeat: asyncio.Task | None = None
        self._metrics_server = None
        self.metrics_host = self.host
        self.metrics_port = 0

    def _bind(self, credentials: grpc.ServerCredentials | None) -> int:
        try:
            port = (self.grpc_server.add_secure_port(self.listen, credentials) if credentials
                    else self.grpc_server.add_insecure_port(self.listen))
        except RuntimeError:
            port = 0
        if port == 0:
            raise FailedPrecondition(f"cannot listen on {self.listen}: {_bind_failure(self.listen)} (--listen)")
        return port

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def advertised(self) -> str:
        """Where clients reach this server (--advertise-address), named by the other replicas
        for the data-plane jobs it holds; default the bound address, with the hostname for a
        wildcard host."""
        if self.config.advertise_address:
            return self.config.advertise_address
        host = socket.gethostname() if self.host.strip("[]") in ("0.0.0.0", "::", "") else self.host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Serves /metrics (on metrics_listen, or the gRPC host and metrics_port; port 0 picks a
        free one), registers this replica's address on a shared store, then serves gRPC."""
        host, port, flag = self.host, self.config.metrics_port, "--metrics-port"
        if self.config.metrics_listen:
            host, _, chosen = self.config.metrics_listen.rpartition(":")
            port, flag = int(chosen), "--metrics-listen"
        try:
            self._metrics_server, _ = self.metrics.start_http_server(port, host.strip("[]"))
        except OSError as error:
            raise FailedPrecondition(f"cannot serve metrics on port {port}: {_describe_bind_error(error)} "
                                     f"({flag})") from None
        self.metrics_host = host
        self.metrics_port = self._metrics_server.server_port
        if self.ownership.shared:
            await self.offload.control(self.ownership.register, self.advertised)
            log.info("replica %s: the data-plane jobs it holds are reached at %s (--advertise-address)",
                     self.ownership.replica_id, self.advertised)
            self._heartbeat = asyncio.ensure_future(self._beat())
        await self.grpc_server.start()
        for name in ("", *SERVICE_NAMES):
            if name != OPTIMIZER:
                await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(OPTIMIZER, health_pb2.HealthCheckResponse.NOT_SERVING)  # until its kernels are built
        loop = asyncio.get_running_loop()
        self._kernels.add_done_callback(lambda _: asyncio.run_coroutine_threadsafe(
            self.health.set(OPTIMIZER, health_pb2.HealthCheckResponse.SERVING), loop))
        self.offload.steps_later(self._build_kernels)
        self._sweeper = asyncio.ensure_future(self._expire_overdue_steps())

    async def _expire_overdue_steps(self) -> None:
        """Aborts, about every EXPIRY_SECONDS, the data-parallel steps whose ranks did not all
        arrive within their timeout, whether or not any call still waits for them."""
        while True:
            await asyncio.sleep(EXPIRY_SECONDS)
            await self.offload.steps(self.dataplane.steps.expire_overdue)

    async def _beat(self) -> None:
        """Registers again every HEARTBEAT_SECONDS: the heartbeat by which the other replicas
        tell that this one, the owner of its data-plane jobs, is up. A failed beat is logged
        once until one works again."""
        failing = False
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self.offload.control(self.ownership.register, self.advertised)
            except LrctlError as error:
                if not failing:
                    log.warning("replica %s: heartbeat failed (%s); other replicas call it down after %g s "
                                "without one", self.ownership.replica_id, error, OWNER_SILENCE_SECONDS)
                failing = True
            else:
                if failing:
                    log.info("replica %s: heartbeat works again", self.ownership.replica_id)
                failing = False

    def _build_kernels(self) -> None:
        """DataPlane.warm_up, then the Optimizer service is ready; a failure is logged, and the
        kernels are then built by the first call that needs them."""
        try:
            self.dataplane.warm_up()
        except Exception:  # noqa: BLE001 - whatever went wrong, calls must not wait forever
            log.exception("building the optimizer kernels at start failed; the first step builds them")
        finally:
            self._kernels.set_result(None)

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop: NOT_SERVING first (so balancers move away), refuse new calls, end the
        watches, drain, snapshot every job whose arrays changed, then close the store."""
        if self._stopping:
            return
        self._stopping = True
        for task in (self._sweeper, self._heartbeat):
            if task is not None:
                task.cancel()
        await self.health.enter_graceful_shutdown()
        drained = asyncio.ensure_future(self.grpc_server.stop(self.config.grace_seconds if grace is None else grace))
        await asyncio.sleep(0)  # let stop() refuse new calls before the open watches are told to end
        self.jobs.close()
        await self.health.end_watches()
        await drained
        await asyncio.get_running_loop().run_in_executor(None, self.dataplane.snapshot_all)
        self.offload.shutdown()
        self.store.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
        self._lock.release()


def _bind_failure(listen: str) -> str:
    """Why grpc could not bind `listen`, found by binding it plainly (grpc does not say)."""
    host, _, port = listen.rpartition(":")
    try:
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host.strip("[]"), int(port)))
    except OSError as error:
        return _describe_bind_error(error)
    except ValueError:
        return "not a HOST:PORT address"
    return "the address could not be bound"


def _describe_bind_error(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "the port is in use (is another lrctl serve running?)"
    if error.errno == errno.EADDRNOTAVAIL:
        return "the address is not one of this machine's"
    if error.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    return error.strerror or str(error)


def _log_access(config: server_config_pb2.ServerConfig, admin_tokens: tuple[str, ...], listen: str,
                address: str) -> None:
    """Says who can reach the server and what they need to call it (never the tokens)."""
    mtls = "yes" if config.tls_client_ca else "no"
    if admin_tokens:
        log.info("auth on: %d admin token(s), TLS %s, mTLS %s; every call needs a bearer token",
                 len(admin_tokens), "yes" if config.tls_cert else "no", mtls)
        if not config.tls_cert and not auth.is_loopback(listen.rsplit(":", 1)[0]):
            log.warning("serving %s without TLS: bearer tokens cross the network unencrypted; "
                        "configure --tls-cert and --tls-key", address)
    elif config.tls_client_ca:
        log.info("auth: mTLS only (no admin token); every client with a certificate signed by %s may call "
                 "everything", config.tls_client_ca)
    elif listen != config.listen:
        log.warning("no credentials configured (no admin token, no --tls-client-ca): serving %s instead of %s, "
                    "loopback only. To serve other hosts configure --admin-token-file or LRCTL_ADMIN_TOKEN "
                    "(or mTLS), or pass --allow-unauthenticated to serve %s without any credentials",
                    address, config.listen, config.listen)
    elif auth.is_loopback(listen.rsplit(":", 1)[0]):
        log.info("no credentials configured: serving loopback only (%s), every call allowed", address)
    else:
        log.warning("no credentials configured and --allow-unauthenticated: anyone who reaches %s may call "
                    "everything", address)


def serve(config: server_config_pb2.ServerConfig) -> None:
    """Runs until SIGTERM or SIGINT, then stops gracefully."""
    asyncio.run(_serve(config))


async def _serve(config: server_config_pb2.ServerConfig) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Runs on the loop, not inside an arbitrary frame: a burst of signals only sets the event again.
        loop.add_signal_handler(signum, stop.set)
    server = LrctlServer(config)
    await server.start()
    gc.freeze()  # what start-up built (modules, descriptors, compiled kernels) is never collected
    gc.set_threshold(*GC_THRESHOLDS)
    print(f"lrctl: serving on {server.address} (data dir {config.data_dir})", flush=True)
    print(f"lrctl: metrics on http://{server.metrics_host}:{server.metrics_port}/metrics", flush=True)
    await stop.wait()
    log.info("lrctl: stopping (grace %.1fs)", config.grace_seconds)
    await server.stop()
    print("lrctl: stopped", flush=True)
