"""How every client command reaches the server: address, deadline, bearer token and TLS."""
from __future__ import annotations

import argparse
import os

from lrctl.client import DEFAULT_TARGET, DEFAULT_TIMEOUT, SERVER_ENV, TOKEN_ENV, Client


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default=None, metavar="HOST[:PORT]",
                        help=f"server address (env {SERVER_ENV}; default {DEFAULT_TARGET}; a bare host "
                             "means port 50051)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="deadline of each call in seconds")
    parser.add_argument("--token", default=None,
                        help=f"bearer token: an admin token, or a job's token for that job (env {TOKEN_ENV})")
    parser.add_argument("--tls-ca", metavar="FILE", help="connect with TLS, trusting the CA in this PEM file")
    parser.add_argument("--tls-cert", metavar="FILE", help="client certificate (PEM) for mTLS; implies TLS")
    parser.add_argument("--tls-key", metavar="FILE", help="private key (PEM) of --tls-cert")


def server_given(args: argparse.Namespace) -> bool:
    """Whether the user named a server, with --server or LRCTL_SERVER."""
    return bool(args.server or os.environ.get(SERVER_ENV))


def connect(args: argparse.Namespace) -> Client:
    """A Client as the global options say; --server falls back to env LRCTL_SERVER, --token
    to env LRCTL_TOKEN."""
    return Client(args.server, token=args.token, ca_file=args.tls_ca, cert_file=args.tls_cert,
                  key_file=args.tls_key, timeout=args.timeout)
