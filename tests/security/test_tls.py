"""TLS and mTLS with certificates made here: a TLS server refuses plaintext, an mTLS server
refuses clients without a certificate or with one from another CA."""
from __future__ import annotations

import pathlib
from typing import Iterator

import grpc
import pytest

import lrctl
from tests.security.certs import Authority, Pem
from tests.security.conftest import ADMIN, start_server
from tests.support.server_process import ServerProcess


class Certs:
    def __init__(self, directory: pathlib.Path) -> None:
        self.ca = Authority(directory, "good")
        self.server = self.ca.issue("server", server=True)
        self.client = self.ca.issue("client", server=False)
        self.stranger = Authority(directory, "other").issue("client", server=False)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("certs"))


def _tls_flags(server: Pem) -> list[str]:
    return ["--tls-cert", str(server.cert), "--tls-key", str(server.key)]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, certs) -> Iterator[ServerProcess]:
    """TLS and admin tokens together."""
    process = start_server(tmp_path_factory.mktemp("tls"), _tls_flags(certs.server))
    yield process
    process.kill()


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory, certs) -> Iterator[ServerProcess]:
    """mTLS without any admin token: a verified client certificate is the whole credential."""
    directory = tmp_path_factory.mktemp("mtls")
    process = ServerProcess(directory / "data", [*_tls_flags(certs.server), "--tls-client-ca", str(certs.ca.cert)])
    yield process.start()
    process.kill()


def test_tls_serves_tls_clients_with_a_token(tls_server, certs):
    ca = certs.ca.cert.read_bytes()
    assert tls_server.health(credentials=grpc.ssl_channel_credentials(ca)) == 1  # SERVING
    with lrctl.Client(tls_server.address, token=ADMIN, ca_file=str(certs.ca.cert)) as admin:
        job = admin.create_job("over-tls", {"lr": 0.3})
        assert [j.job_id for j in admin.jobs()] == ["over-tls"]
    with lrctl.Client(tls_server.address, token=job.token, tls=True, ca_file=str(certs.ca.cert)) as own:
        assert own.job("over-tls").lr(0) == 0.3
    with lrctl.Client(tls_server.address, token="", ca_file=str(certs.ca.cert)) as anonymous:
        with pytest.raises(lrctl.Unauthenticated):
            anonymous.echo()


def test_tls_refuses_plaintext_and_untrusted_servers(tls_server, certs):
    with lrctl.Client(tls_server.address, token=ADMIN, timeout=3) as plaintext:
        with pytest.raises(lrctl.Unavailable):
            plaintext.echo()
    with lrctl.Client(tls_server.address, token=ADMIN, ca_file=str(certs.stranger.cert), timeout=3) as wrong_ca:
        with pytest.raises(lrctl.Unavailable):
            wrong_ca.echo()


def test_mtls_accepts_a_client_certificate_the_ca_signed(mtls_server, certs):
    with lrctl.Client(mtls_server.address, ca_file=str(certs.ca.cert), cert_file=str(certs.client.cert),
                      key_file=str(certs.client.key)) as client:
        assert client.echo(b"hi") == b"hi"
        client.create_job("mtls-job", {"lr": 0.2})
        assert [j.job_id for j in client.jobs()] == ["mtls-job"]
    assert any("mTLS only" in line for line in mtls_server.output)


@pytest.mark.parametrize("who", ["no certificate", "another CA's certificate"])
def test_mtls_refuses_other_clients(mtls_server, certs, who):
    pem = certs.stranger if who == "another CA's certificate" else None
    with lrctl.Client(mtls_server.address, ca_file=str(certs.ca.cert), timeout=3,
                      cert_file=str(pem.cert) if pem else None, key_file=str(pem.key) if pem else None) as client:
        with pytest.raises(lrctl.Unavailable):
            client.echo()
