"""The pieces of server/auth.py alone: the access table, admin token files, where to listen,
and the cache of verified job tokens."""
from __future__ import annotations

import pytest

from lrctl.server import auth
from lrctl.server.app import SERVICES, LrctlServer
from lrctl.server.config import DEFAULTS
from lrctl.server.errors import InvalidArgument
from lrctl.v1 import server_config_pb2


def test_the_access_table_has_a_rule_for_every_method_we_serve():
    served = {f"/{service.full_name}/{method.name}" for service in SERVICES for method in service.methods}
    assert set(auth.ACCESS) == served


def test_admin_tokens_come_from_the_file_and_the_environment(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("# comment\n\n  first-admin-token-xxxxxxxx  \nsecond-admin-token-xxxxxxx\n   # indented comment\n")
    assert auth.load_admin_tokens(str(path), {}) == ("first-admin-token-xxxxxxxx", "second-admin-token-xxxxxxx")
    assert auth.load_admin_tokens("", {"LRCTL_ADMIN_TOKEN": " env-admin-token-xxxxxxxxx\n"}) == (
        "env-admin-token-xxxxxxxxx",)
    assert auth.load_admin_tokens("", {"LRCTL_ADMIN_TOKEN": ""}) == ()
    with pytest.raises(InvalidArgument, match="admin_token_file: cannot read"):
        auth.load_admin_tokens(str(tmp_path / "missing"), {})


@pytest.mark.parametrize("listen, credentials, allowed, expected", [
    ("0.0.0.0:50051", False, False, "127.0.0.1:50051"),
    ("[::]:7", False, False, "127.0.0.1:7"),
    ("lrctl.example:7", False, False, "127.0.0.1:7"),
    ("10.1.2.3:7", False, False, "127.0.0.1:7"),
    ("localhost:7", False, False, "localhost:7"),
    ("[::1]:7", False, False, "[::1]:7"),
    ("127.0.0.2:7", False, False, "127.0.0.2:7"),
    ("0.0.0.0:7", True, False, "0.0.0.0:7"),
    ("0.0.0.0:7", False, True, "0.0.0.0:7"),
])
def test_listen_address(listen, credentials, allowed, expected):
    assert auth.listen_address(listen, credentials, allowed) == expected


def test_job_tokens_are_hashed_random_and_prefixed():
    token, digest = auth.issue_job_token()
    other, _ = auth.issue_job_token()
    assert token.startswith("lrj_") and len(token) > 40 and token != other
    assert digest == auth.token_hash(token) and len(digest) == 64 and token not in digest


def test_a_verified_token_is_forgotten_with_its_job_even_mid_lookup():
    token, digest = auth.issue_job_token()
    store = {digest: "a"}
    tokens = auth.JobTokens(store.get)
    assert tokens.job_of(token) == "a"
    del store[digest]
    assert tokens.job_of(token) == "a"  # served from the cache
    tokens.forget_job("a")
    assert tokens.job_of(token) is None

    def deleted_during_lookup(key: str) -> str | None:
        found = store.pop(key, None)
        racing.forget_job("b")
        return found

    store[digest] = "b"
    racing = auth.JobTokens(deleted_during_lookup)
    assert racing.job_of(token) == "b"  # the lookup itself saw the job
    assert racing.job_of(token) is None  # but its answer was not cached
    assert racing.job_of("not-a-job-token") is None


def test_unreadable_credentials_stop_the_server_before_it_starts(tmp_path):
    config = server_config_pb2.ServerConfig()
    config.CopyFrom(DEFAULTS)
    config.data_dir = str(tmp_path / "data")
    config.tls_cert, config.tls_key = str(tmp_path / "missing.crt"), str(tmp_path / "missing.key")
    with pytest.raises(InvalidArgument, match="cannot read"):
        LrctlServer(config)
    assert not (tmp_path / "data").exists()


class _Aborted(Exception):
    pass


class _Context:
    def __init__(self, token: str) -> None:
        self._metadata = (("authorization", f"Bearer {token}"),)

    def invocation_metadata(self):
        return self._metadata

    def abort(self, code, details):
        raise _Aborted(code, details)


def test_a_method_missing_from_the_table_is_refused_even_to_admins():
    import grpc

    interceptor = auth.AuthInterceptor(("admin-token-xxxxxxxxxxxx",), auth.JobTokens(lambda digest: None))
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: "served")
    details = type("Details", (), {"method": "/lrctl.v1.Controller/SomethingNew", "invocation_metadata": ()})()
    wrapped = interceptor.intercept_service(lambda _: handler, details)
    with pytest.raises(_Aborted) as refused:
        wrapped.unary_unary(object(), _Context("admin-token-xxxxxxxxxxxx"))
    assert refused.value.args == (grpc.StatusCode.PERMISSION_DENIED,
                                  "/lrctl.v1.Controller/SomethingNew has no access rule; refused")
    details.method = "/grpc.health.v1.Health/Check"
    assert interceptor.intercept_service(lambda _: handler, details) is handler
