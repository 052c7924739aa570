"""A server address without a port means lrctl's port, not gRPC's 443; LRCTL_SERVER is the default."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import lrctl
from lrctl.channel import DEFAULT_PORT, with_default_port

hostnames = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?){0,3}",
                          fullmatch=True)
ports = st.integers(1, 65535)


@given(hostnames)
def test_a_bare_host_gets_the_default_port(host: str) -> None:
    assert with_default_port(host) == f"{host}:{DEFAULT_PORT}"


@given(hostnames, ports)
def test_a_host_with_a_port_is_left_alone(host: str, port: int) -> None:
    assert with_default_port(f"{host}:{port}") == f"{host}:{port}"


@pytest.mark.parametrize("target, expected", [
    ("127.0.0.1", "127.0.0.1:50051"), ("[::1]", "[::1]:50051"), ("[::1]:7000", "[::1]:7000"),
    ("dns:///lrctl-headless:50051", "dns:///lrctl-headless:50051"), ("dns:///lrctl", "dns:///lrctl"),
    ("ipv4:10.0.0.1:1,10.0.0.2:1", "ipv4:10.0.0.1:1,10.0.0.2:1"), ("unix:/tmp/lrctl.sock", "unix:/tmp/lrctl.sock"),
])
def test_targets(target: str, expected: str) -> None:
    assert with_default_port(target) == expected


def test_client_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LRCTL_SERVER", raising=False)
    with lrctl.Client() as client:
        assert client.target == "127.0.0.1:50051"
    monkeypatch.setenv("LRCTL_SERVER", "lrctl-0.lrctl-headless")
    with lrctl.Client() as client:
        assert client.target == "lrctl-0.lrctl-headless:50051"
    with lrctl.Client("127.0.0.1") as client:
        assert client.target == "127.0.0.1:50051", "an explicit target wins, with the default port"
