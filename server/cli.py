"""`lrctl serve`: registered into the CLI through the `lrctl.cli` entry point group."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from lrctl.server.config import load_config
from lrctl.server.errors import InvalidArgument, LrctlError


FLAGS: tuple[tuple[str, type, str], ...] = (
    ("listen", str, "host:port to serve gRPC on (default 127.0.0.1:50051; loopback only without credentials)"),
    ("metrics_port", int, "port of the Prometheus /metrics endpoint (default 9108)"),
    ("metrics_listen", str, "HOST:PORT of /metrics when it binds apart from gRPC, e.g. 127.0.0.1:9108 (no auth; it "
                            "shows job ids, LRs and steps); default the --listen host with --metrics-port"),
    ("data_dir", str, "directory of the store, snapshots and lock; one server per directory (default ./lrctl-data)"),
    ("store", str, "store URL (default sqlite:///<data-dir>/lrctl.sqlite; sqlite:////abs/path for an absolute path; "
                   "postgresql://USER@HOST:PORT/DB for replicas sharing one database)"),
    ("workers", int, "threads for control-plane work off the event loop: store commits, policy math (default 8)"),
    ("step_workers", int, "threads for data-plane work off the event loop: optimizer steps, snapshots (default 4)"),
    ("grace_seconds", float, "time in-flight calls get on SIGTERM (default 10)"),
    ("metrics_job_label_cap", int, "jobs with their own job_id label on /metrics (default 100)"),
    ("device", str, "where job arrays live and optimizer steps run: auto, cpu or cuda (default auto: cuda when "
                    "CuPy sees a GPU, else cpu)"),
    ("tls_cert", str, "PEM certificate chain of the server (with --tls-key)"),
    ("tls_key", str, "PEM private key of the server"),
    ("tls_client_ca", str, "PEM CA bundle: clients must present a certificate it signed (mTLS)"),
    ("admin_token_file", str, "admin bearer tokens, one per line (env LRCTL_ADMIN_TOKEN adds one)"),
    ("allow_unauthenticated", bool, "serve a non-loopback address without any credentials configured"),
    ("max_jobs", int, "jobs on this server (default 100000)"),
    ("max_elements_per_job", int, "parameter elements of one data-plane job (default 2^30)"),
    ("max_optimizer_state_bytes", int, "bytes of parameters + optimizer state of all jobs (default 8 GiB)"),
    ("max_chunk_bytes", int, "bytes of data in one tensor chunk (default and at most 4 MiB)"),
    ("max_message_bytes", int, "bytes of one gRPC message (default max chunk + 1 MiB)"),
    ("max_metrics_per_report", int, "metrics in one ReportMetrics (default 64)"),
    ("max_watchers_per_job", int, "concurrent WatchJob streams on one job (default 64)"),
    ("max_streams", int, "open streams of any streaming call on the whole server, health Watch and reflection "
                         "included (default 10000)"),
    ("max_streams_per_connection", int, "open streams on one client connection (default 1000)"),
    ("keepalive_seconds", float, "ping a connection idle this long (default 30)"),
    ("keepalive_timeout_seconds", float, "close a connection whose ping goes unanswered this long (default 10)"),
    ("max_connection_age_seconds", float, "GOAWAY connections older than this (default 0: never)"),
    ("max_connection_age_grace_seconds", float, "time calls on an aged connection get to finish (default 30)"),
    ("advertise_address", str, "HOST:PORT clients reach this server at, which other replicas on a shared store name "
                               "for the data-plane jobs it holds (default the --listen address; the hostname for "
                               "0.0.0.0 or [::])"),
)
"""Every ServerConfig field as a flag; tests/test_server_config.py checks none is missing."""
FLAG_NAMES = frozenset(name for name, _, _ in FLAGS)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve", help="run the lrctl server (embedded SQLite store in --data-dir)",
        description="Flags override LRCTL_* environment variables, which override --config.")
    parser.add_argument("--config", help="ServerConfig in protobuf's JSON mapping (env LRCTL_CONFIG)")
    for name, kind, text in FLAGS:
        if kind is bool:
            parser.add_argument("--" + name.replace("_", "-"), dest=name, action="store_true", default=None, help=text)
        else:
            parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=text)
    parser.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> None:
    # Imported here, not at the top: every `lrctl` invocation loads this plugin to build
    # its parser, and only `serve` needs gRPC servers, health, reflection and the store.
    from lrctl.server.app import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    flags = {name: getattr(args, name) for name, _, _ in FLAGS}
    try:
        config = load_config(args.config, os.environ, flags)
    except InvalidArgument as error:
        for violation in error.violations:
            print(f"lrctl serve: {_flag(violation.field)}: {violation.description}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        serve(config)
    except LrctlError as error:
        raise SystemExit(f"lrctl serve: {error}") from None


def _flag(field: str) -> str:
    """The option a ServerConfig field is set with (the layer name for a parse error)."""
    return "--" + field.replace("_", "-") if field in FLAG_NAMES or field == "config" else field
