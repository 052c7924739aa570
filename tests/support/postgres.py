"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb in a temporary directory,
one `postgres` process on a free loopback port, removed again on stop. No system service.

PostgreSQL refuses to run as root, and CI and the development machines run as root: the
cluster then runs as the `postgres` user that Debian's package creates. The binaries are
found on PATH or where Debian installs them (/usr/lib/postgresql/<version>/bin);
`bash .ci/install-tools` installs the package. `unavailable()` says why a cluster cannot be
started here, so tests skip with the reason instead of passing.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any

INSTALL_HINT = "run `bash .ci/install-tools` (installs Debian's postgresql package)"
SUPERUSER = "lrctl"
START_TIMEOUT = 60.0


def _bin_dir() -> str | None:
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return os.path.dirname(os.path.realpath(found))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0)
    return os.path.dirname(versions[-1]) if versions else None


def _run_as() -> str | None:
    """The user to run the cluster as: None (ourselves) unless we are root."""
    return "postgres" if os.geteuid() == 0 else None


def unavailable() -> str | None:
    """Why no cluster can be started here, or None when one can."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as error:
        return f"psycopg is not installed ({error}): pip install -e '.[postgres]'"
    if _bin_dir() is None:
        return f"PostgreSQL server binaries (initdb, postgres) not found; {INSTALL_HINT}"
    user = _run_as()
    if user is not None:
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"running as root and there is no `{user}` user to run PostgreSQL as; {INSTALL_HINT}"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresCluster:
    """`PostgresCluster().start()`; `url(db)` for a connection URL; `create_database()` for a
    fresh database; `stop()` removes everything. `settings` become `-c name=value`."""

    def __init__(self, **settings: Any) -> None:
        self.bin_dir = _bin_dir()
        self.settings = {"listen_addresses": "127.0.0.1", "max_connections": 200, **settings}
        self.port = 0
        self.root = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._databases = 0

    def _cmd(self, tool: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        return subprocess.run([os.path.join(self.bin_dir, tool), *args], user=_run_as(), check=True,
                              capture_output=True, **kwargs)

    def start(self) -> "PostgresCluster":
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        self.root = tempfile.mkdtemp(prefix="lrctl-pg-")
        if _run_as() is not None:
            shutil.chown(self.root, _run_as())
        data = os.path.join(self.root, "data")
        self._cmd("initdb", "-D", data, "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync",
                  "--no-instructions")
        self.port = free_port()
        self._launch()
        return self

    def _launch(self) -> None:
        data = os.path.join(self.root, "data")
        options = [arg for name, value in self.settings.items() for arg in ("-c", f"{name}={value}")]
        with open(os.path.join(self.root, "log"), "ab") as log:
            self.process = subprocess.Popen(
                [os.path.join(self.bin_dir, "postgres"), "-D", data, "-p", str(self.port), "-k", self.root, *options],
                user=_run_as(), stdout=subprocess.DEVNULL, stderr=log)
        self._wait_ready()

    def restart(self) -> None:
        """Starts the stopped server again, on the same port and data."""
        self._launch()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not start:\n" + self.log()) from None
                time.sleep(0.1)

    def log(self) -> str:
        try:
            with open(os.path.join(self.root, "log"), errors="replace") as file:
                return file.read()
        except OSError:
            return ""

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        self._databases += 1
        name = f"lrctl_{os.getpid()}_{self._databases}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def sql(self, url: str, statement: str, *args: Any) -> list[tuple]:
        """Runs one statement on its own connection (autocommit) and returns its rows."""
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            cursor = conn.execute(statement, args or None)
            return cursor.fetchall() if cursor.description else []

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown: disconnect clients, checkpoint
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)


def cluster_fixture():
    """A session-scoped pytest fixture over one PostgresCluster; skips with the reason when
    none can be started here. Import it into a conftest.py under the name it is to have."""
    import pytest

    @pytest.fixture(scope="session")
    def postgres_cluster():
        reason = unavailable()
        if reason:
            pytest.skip(reason)
        cluster = PostgresCluster().start()
        yield cluster
        cluster.stop()
    return postgres_cluster
