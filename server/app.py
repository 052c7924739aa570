"""Wiring: store, jobs, servicers, health, reflection and signals into one running server."""
from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from lrctl.server.jobs import JobRegistry
from lrctl.server.service.controller import ControllerService
from lrctl.server.service.diagnostics import DiagnosticsService
from lrctl.server.service.job_codec import spec_from_document
from lrctl.server.store import SqliteStore
from lrctl.v1 import controller_pb2, controller_pb2_grpc, server_config_pb2

log = logging.getLogger("lrctl.server")

SERVICE_NAMES = (
    controller_pb2.DESCRIPTOR.services_by_name["Controller"].full_name,
    controller_pb2.DESCRIPTOR.services_by_name["Diagnostics"].full_name,
)


class LrctlServer:
    """One lrctl server process: start() binds and serves, stop() drains and closes the store."""

    def __init__(self, config: server_config_pb2.ServerConfig) -> None:
        self.config = config
        self.store = SqliteStore(config.data_dir)
        self.jobs = JobRegistry(self.store, spec_from_document)
        self.health = health.HealthServicer()
        self.grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=config.workers))
        controller_pb2_grpc.add_ControllerServicer_to_server(ControllerService(self.jobs), self.grpc_server)
        controller_pb2_grpc.add_DiagnosticsServicer_to_server(DiagnosticsService(), self.grpc_server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc_server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self.grpc_server)
        self.port = self.grpc_server.add_insecure_port(config.listen)
        if self.port == 0:
            raise OSError(f"cannot listen on {config.listen}")
        self._stopped = threading.Event()

    @property
    def address(self) -> str:
        host = self.config.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    def start(self) -> None:
        self.grpc_server.start()
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float | None = None) -> None:
        """Graceful stop: NOT_SERVING first (so balancers move away), drain, then close the store."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        self.jobs.close()
        self.grpc_server.stop(self.config.grace_seconds if grace is None else grace).wait()
        self.store.close()

    def wait(self) -> None:
        self.grpc_server.wait_for_termination()


def serve(config: server_config_pb2.ServerConfig) -> None:
    """Runs until SIGTERM or SIGINT, then stops gracefully."""
    server = LrctlServer(config)
    server.start()
    print(f"lrctl: serving on {server.address} (data dir {config.data_dir})", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    log.info("lrctl: stopping (grace %.1fs)", config.grace_seconds)
    server.stop()
    print("lrctl: stopped", flush=True)
