"""The pieces of server/auth.py alone: the access table, admin token files, where to listen,
and the cache of verified job tokens."""
from __future__ import annotations

import pytest

import asyncio
import json

from lrctl.server import auth
from lrctl.server.app import SERVICES, LrctlServer
from lrctl.server.config import DEFAULTS
from lrctl.server.errors import InvalidArgument
from lrctl.server.jobs import JobTokens, issue_job_token, token_hash
from lrctl.server.offload import Offload
from lrctl.server.store import JobRecord, open_store
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
    token, digest = issue_job_token()
    other, _ = issue_job_token()
    assert token.startswith("lrj_") and len(token) > 40 and token != other
    assert digest == token_hash(token) and len(digest) == 64 and token not in digest


def _job(job_id: str) -> JobRecord:
    return JobRecord(job_id, "{}", "", "active", json.dumps({}), 1, 1, 0, 0.0, 0.0)


def test_a_verified_token_is_forgotten_with_its_job_even_mid_lookup(tmp_path):
    token, digest = issue_job_token()
    store = open_store(f"sqlite:///{tmp_path}/a.sqlite")
    store.insert_job(_job("a"), [], digest)
    tokens = JobTokens(store)
    assert tokens.job_of(token) == "a"
    store.delete_job("a")
    assert tokens.job_of(token) == "a"  # served from the cache
    tokens.forget_job("a")
    assert tokens.job_of(token) is None

    class DeletedDuringLookup(type(store)):
        def job_of_token(self, digest: str) -> str | None:
            found = super().job_of_token(digest)
            self.delete_job("b")
            racing.forget_job("b")
            return found

    racing_store = DeletedDuringLookup(tmp_path / "b.sqlite")
    racing_store.insert_job(_job("b"), [], digest)
    racing = JobTokens(racing_store)
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

    async def abort(self, code, details):
        raise _Aborted(code, details)


def test_a_method_missing_from_the_table_is_refused_even_to_admins(tmp_path):
    import grpc

    async def served(request, context):
        return "served"

    async def run() -> None:
        store = open_store(f"sqlite:///{tmp_path}/lrctl.sqlite")
        interceptor = auth.AuthInterceptor(("admin-token-xxxxxxxxxxxx",), JobTokens(store), Offload(1, 1))
        handler = grpc.unary_unary_rpc_method_handler(served)

        async def continuation(_):
            return handler

        details = type("Details", (), {"method": "/lrctl.v1.Controller/SomethingNew", "invocation_metadata": ()})()
        wrapped = await interceptor.intercept_service(continuation, details)
        with pytest.raises(_Aborted) as refused:
            await wrapped.unary_unary(object(), _Context("admin-token-xxxxxxxxxxxx"))
        assert refused.value.args == (grpc.StatusCode.PERMISSION_DENIED,
                                      "/lrctl.v1.Controller/SomethingNew has no access rule; refused")
        details.method = "/grpc.health.v1.Health/Check"
        assert await interceptor.intercept_service(continuation, details) is handler

    asyncio.run(run())
