"""`lrctl serve`: registered into the CLI through the `lrctl.cli` entry point group."""
from __future__ import annotations

import argparse
import logging
import os

from lrctl.server.config import load_config
from lrctl.server.errors import LrctlError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve", help="run the lrctl server (embedded SQLite store in --data-dir)",
        description="Flags override LRCTL_* environment variables, which override --config.")
    parser.add_argument("--config", help="ServerConfig in protobuf's JSON mapping (env LRCTL_CONFIG)")
    parser.add_argument("--listen", help="host:port to serve gRPC on (default 127.0.0.1:50051)")
    parser.add_argument("--metrics-port", dest="metrics_port", type=int,
                        help="port of the Prometheus /metrics endpoint (default 9108)")
    parser.add_argument("--data-dir", dest="data_dir", help="directory of the store (default ./lrctl-data)")
    parser.add_argument("--workers", type=int, help="gRPC worker threads (default 16)")
    parser.add_argument("--grace-seconds", dest="grace_seconds", type=float,
                        help="time in-flight calls get on SIGTERM (default 10)")
    parser.add_argument("--metrics-job-label-cap", dest="metrics_job_label_cap", type=int,
                        help="jobs with their own job_id label on /metrics (default 100)")
    parser.add_argument("--device", help="where job arrays live and optimizer steps run: auto, cpu or cuda "
                        "(default auto, which takes the CPU: the CuPy backend is not written yet, so cuda is refused)")
    parser.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> None:
    # Imported here, not at the top: every `lrctl` invocation loads this plugin to build
    # its parser, and only `serve` needs gRPC servers, health, reflection and the store.
    from lrctl.server.app import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    flags = {name: getattr(args, name) for name in ("listen", "metrics_port", "data_dir", "workers", "grace_seconds",
                                                   "metrics_job_label_cap", "device")}
    try:
        serve(load_config(args.config, os.environ, flags))
    except LrctlError as error:
        raise SystemExit(f"lrctl serve: {error}") from None
