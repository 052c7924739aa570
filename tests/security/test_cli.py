"""`lrctl --token ...` against a server with auth on; a missing token fails with a hint."""
from __future__ import annotations

import pytest

from lrctl.cli.main import main
from tests.security.conftest import ADMIN


@pytest.fixture(autouse=True)
def no_token_in_env(monkeypatch):
    monkeypatch.delenv("LRCTL_TOKEN", raising=False)


def test_jobs_with_a_token(server, tmp_path, capsys):
    policy = tmp_path / "policy.json"
    policy.write_text('{"lr": 0.1}')
    assert main(["--server", server.address, "--token", ADMIN, "jobs", "create", "cli-job",
                 "--policy", str(policy)]) == 0
    token = next(line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("token: "))
    assert token.startswith("lrj_")
    assert main(["--server", server.address, "--token", ADMIN, "jobs", "list"]) == 0
    assert "cli-job" in capsys.readouterr().out
    assert main(["--server", server.address, "--token", token, "jobs", "show", "cli-job"]) == 0
    assert '"job_id": "cli-job"' in capsys.readouterr().out


def test_token_from_the_environment(server, monkeypatch, capsys):
    monkeypatch.setenv("LRCTL_TOKEN", ADMIN)
    assert main(["--server", server.address, "jobs", "ls"]) == 0


def test_without_a_token_the_cli_says_what_is_missing(server, capsys):
    assert main(["--server", server.address, "jobs", "list"]) == 1
    err = capsys.readouterr().err
    assert "missing bearer token" in err and "--token" in err and "LRCTL_TOKEN" in err


def test_a_job_token_cannot_list_jobs(server, capsys):
    import lrctl

    with lrctl.Client(server.address, token=ADMIN) as admin:
        token = admin.create_job("cli-other", {"lr": 0.1}).token
    assert main(["--server", server.address, "--token", token, "jobs", "list"]) == 1
    assert "needs an admin token" in capsys.readouterr().err
