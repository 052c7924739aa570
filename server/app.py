"""Wiring: store, jobs, data plane, servicers, health, reflection and signals into one running server."""
from __future__ import annotations

import logging
import os
import pathlib
import signal
import threading
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from lrctl.server import auth, metrics, tls
from lrctl.server.backends import select_backend
from lrctl.server.dataplane import DataPlane, DataPlaneLimits, SnapshotStore
from lrctl.server.grpc_metrics import GrpcMetricsInterceptor
from lrctl.server.jobs import JobRegistry, Limits
from lrctl.server.service.controller import ControllerService
from lrctl.server.service.diagnostics import DiagnosticsService
from lrctl.server.service.health import HealthServicer
from lrctl.server.service.job_codec import spec_from_document
from lrctl.server.service.optimizer import OptimizerService, add_optimizer_to_server
from lrctl.server.store import SqliteStore
from lrctl.v1 import controller_pb2, controller_pb2_grpc, optimizer_pb2, server_config_pb2

log = logging.getLogger("lrctl.server")
STOP_POLL_SECONDS = 0.1
"""How often serve() looks whether SIGTERM or SIGINT arrived."""

SERVICES = (controller_pb2.DESCRIPTOR.services_by_name["Controller"],
            controller_pb2.DESCRIPTOR.services_by_name["Diagnostics"],
            optimizer_pb2.DESCRIPTOR.services_by_name["Optimizer"])
SERVICE_NAMES = tuple(service.full_name for service in SERVICES)


def channel_options(config: server_config_pb2.ServerConfig) -> list[tuple[str, int]]:
    """gRPC server options: message size, and the keepalive and connection-age settings that
    end the calls of a vanished or frozen client (a Step holds its job's lock while it reads
    chunks) instead of leaving them open until the TCP stack gives up, hours later."""
    options = [("grpc.max_receive_message_length", config.max_message_bytes),
               ("grpc.max_send_message_length", config.max_message_bytes),
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
    """One lrctl server process: start() binds and serves, stop() drains and closes the store."""

    def __init__(self, config: server_config_pb2.ServerConfig) -> None:
        self.config = config
        admin_tokens = auth.load_admin_tokens(config.admin_token_file, os.environ)
        credentials = tls.server_credentials(config)
        self.store = SqliteStore(config.data_dir)
        self.jobs = JobRegistry(self.store, spec_from_document, Limits(
            max_jobs=config.max_jobs, max_metrics_per_report=config.max_metrics_per_report,
            max_watchers_per_job=config.max_watchers_per_job))
        self.backend = select_backend(config.device)
        self.dataplane = DataPlane(self.jobs, self.backend, SnapshotStore(pathlib.Path(config.data_dir) / "snapshots"),
                                   DataPlaneLimits(max_elements_per_job=config.max_elements_per_job,
                                                   max_optimizer_state_bytes=config.max_optimizer_state_bytes,
                                                   max_chunk_bytes=config.max_chunk_bytes))
        metrics.set_job_label_cap(config.metrics_job_label_cap)
        self.health = HealthServicer()
        interceptor = GrpcMetricsInterceptor()
        for service in SERVICES:
            interceptor.initialize_service(service)
        interceptors: list[grpc.ServerInterceptor] = [interceptor]
        if admin_tokens:
            job_tokens = auth.JobTokens(self.jobs.job_of_token)
            self.jobs.on_delete(job_tokens.forget_job)
            interceptors.append(auth.AuthInterceptor(admin_tokens, job_tokens))
        self.grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=config.workers),
                                       interceptors=interceptors,
                                       options=channel_options(config))
        controller_pb2_grpc.add_ControllerServicer_to_server(ControllerService(self.jobs), self.grpc_server)
        controller_pb2_grpc.add_DiagnosticsServicer_to_server(DiagnosticsService(), self.grpc_server)
        add_optimizer_to_server(OptimizerService(self.dataplane), self.grpc_server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc_server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self.grpc_server)
        self.listen = auth.listen_address(config.listen, auth.has_credentials(admin_tokens, config),
                                          config.allow_unauthenticated)
        self.port = (self.grpc_server.add_secure_port(self.listen, credentials) if credentials
                     else self.grpc_server.add_insecure_port(self.listen))
        if self.port == 0:
            raise OSError(f"cannot listen on {self.listen}")
        _log_access(config, admin_tokens, self.listen, self.address)
        self._stopped = threading.Event()
        self._metrics_server = None
        self.metrics_port = 0

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        """Serves /metrics on metrics_port (0 picks a free one), then gRPC."""
        self._metrics_server, _ = metrics.start_http_server(self.config.metrics_port, self.host.strip("[]"))
        self.metrics_port = self._metrics_server.server_port
        self.grpc_server.start()
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float | None = None) -> None:
        """Graceful stop: NOT_SERVING first (so balancers move away), drain, snapshot every job
        whose arrays changed, then close the store."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        drained = self.grpc_server.stop(self.config.grace_seconds if grace is None else grace)
        self.jobs.close()  # after stop(): no watch can start once the open ones are told to end
        self.health.end_watches()
        drained.wait()
        self.dataplane.snapshot_all()
        self.store.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()

    def wait(self) -> None:
        self.grpc_server.wait_for_termination()


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
    server = LrctlServer(config)
    received: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Only a list append: a handler that takes a lock (Event.set) deadlocks when the next
        # signal lands inside it, and process managers and operators do send several.
        signal.signal(signum, lambda signum, frame: received.append(signum))
    server.start()
    print(f"lrctl: serving on {server.address} (data dir {config.data_dir})", flush=True)
    print(f"lrctl: metrics on http://{server.host}:{server.metrics_port}/metrics", flush=True)
    while not received:
        time.sleep(STOP_POLL_SECONDS)
    log.info("lrctl: stopping (grace %.1fs)", config.grace_seconds)
    server.stop()
    print("lrctl: stopped", flush=True)
