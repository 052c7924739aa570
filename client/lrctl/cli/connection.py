"""How every client command reaches the server: address, deadline, bearer token and TLS."""
from __future__ import annotations

import argparse
import os

from lrctl.client import DEFAULT_TIMEOUT, TOKEN_ENV, Client


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default=os.environ.get("LRCTL_SERVER", "127.0.0.1:50051"),
                        help="server address host:port (env LRCTL_SERVER; default %(default)s)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="deadline of each call in seconds")
    parser.add_argument("--token", default=None,
                        help=f"bearer token: an admin token, or a job's token for that job (env {TOKEN_ENV})")
    parser.add_argument("--tls-ca", metavar="FILE", help="connect with TLS, trusting the CA in this PEM file")
    parser.add_argument("--tls-cert", metavar="FILE", help="client certificate (PEM) for mTLS; implies TLS")
    parser.add_argument("--tls-key", metavar="FILE", help="private key (PEM) of --tls-cert")


def connect(args: argparse.Namespace) -> Client:
    """A Client as the global options say; --token falls back to env LRCTL_TOKEN."""
    return Client(args.server, token=args.token, ca_file=args.tls_ca, cert_file=args.tls_cert,
                  key_file=args.tls_key, timeout=args.timeout)
