"""A full disk or an unusable data directory (DESIGN §5, §7).

A full disk is simulated without root by lowering the server process's file-size limit
(RLIMIT_FSIZE) while it runs: CPython ignores SIGXFSZ, so every write past the limit fails
with EFBIG, in SQLite's WAL and in snapshot files alike. Writes are then refused with
RESOURCE_EXHAUSTED and change nothing; reads go on; a step whose snapshot fails still
succeeds (its arrays are durable at the next snapshot that succeeds).
"""
from __future__ import annotations

import contextlib
import errno
import json
import pathlib
import resource
import sqlite3
import subprocess
import sys
from typing import Iterator

import numpy as np
import pytest
from grpc_health.v1 import health_pb2

import lrctl
from lrctl.server.errors import ResourceExhausted, Unavailable
from lrctl.server.store.failures import storage_error
from lrctl.server.store.sqlite_store import SqliteStore, sqlite_failure
from tests.faults._support import (
    CONTROL_POLICY,
    DATA_POLICY,
    SHAPES,
    assert_params_equal,
    grads,
    initial,
    metric_value,
    snapshot_files,
)
from tests.support.server_process import ServerProcess

REPO = pathlib.Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def file_size_limit(pid: int, limit: int) -> Iterator[None]:
    """Lowers the soft RLIMIT_FSIZE of process `pid` (any process may lower its own soft limit
    and raise it back up to the hard one; raising the hard limit would need privileges)."""
    soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))


def snapshot_meta(data_dir: pathlib.Path, job_id: str) -> tuple[dict, np.ndarray]:
    with np.load(data_dir / "snapshots" / f"{job_id}.npz", allow_pickle=False) as archive:
        return json.loads(str(archive["meta"])), archive["params"].copy()


def flat(params: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([params[name].reshape(-1) for name in SHAPES])


def observed(job: lrctl.Job) -> tuple:
    """Everything a reader sees of a control-plane job."""
    return job.info(), job.events(), tuple(job.lease(0, 50).lrs)


@pytest.mark.timeout(120)
def test_disk_full_refuses_writes_keeps_reads_and_recovers(tmp_path: pathlib.Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        with lrctl.Client(server.address) as client:
            control = client.create_job("control", CONTROL_POLICY)
            for step in range(1, 6):
                control.report(step, loss=1.0)
            data = client.create_job("data", DATA_POLICY, optimizer={"adam": {}, "snapshot_every_steps": 2})
            data.init_params(initial(1))
            replies = {step + 1: data.step(step, grads(1, step)).params for step in range(4)}  # snapshot at 4
            upload = client.create_job("upload", DATA_POLICY, optimizer={"sgd": {}})
            before = observed(control)
            snapshot_before = (tmp_path / "snapshots" / "data.npz").read_bytes()
            failures_before = metric_value(server.metrics_url, "lrctl_snapshot_failures_total")

            with file_size_limit(server.process.pid, 1):
                with pytest.raises(lrctl.ResourceExhausted, match="storage full"):
                    control.report(6, loss=0.5)
                assert observed(control) == before, "a refused report changed nothing"
                with pytest.raises(lrctl.ResourceExhausted, match="storage full"):
                    client.create_job("late", CONTROL_POLICY)
                with pytest.raises(lrctl.ResourceExhausted, match="storage full"):
                    upload.init_params(initial(2))
                for step in range(4, 7):  # snapshots due at 6 and (retried) at 7 both fail
                    replies[step + 1] = data.step(step, grads(1, step)).params
                assert server.health() == health_pb2.HealthCheckResponse.SERVING
                assert client.job("control").lr(3) == before[2][3]
                assert (tmp_path / "snapshots" / "data.npz").read_bytes() == snapshot_before
                assert [p.name for p in snapshot_files(tmp_path)] == ["data.npz"], "no temporary file left"
                assert metric_value(server.metrics_url, "lrctl_snapshot_failures_total") >= failures_before + 2
                with pytest.raises(lrctl.FailedPrecondition, match="upload"):
                    upload.pull()  # the refused upload left nothing behind

            replies[8] = data.step(7, grads(1, 7)).params  # the retried snapshot succeeds
            meta, params = snapshot_meta(tmp_path, "data")
            assert meta["next_step"] == 8 and params.tobytes() == flat(replies[8]).tobytes()
            control.report(7, loss=0.4)
            client.create_job("late", CONTROL_POLICY)
            upload.init_params(initial(2))
            after = observed(control)
        server.kill()

        server = ServerProcess(tmp_path).start()
        with lrctl.Client(server.address) as client:
            control = client.job("control")
            assert observed(control) == after
            assert [e.step for e in control.events() if e.step == 6] == []
            with pytest.raises(lrctl.FailedPrecondition, match="stale step"):
                control.report(6, loss=0.5)  # step 6's metrics were never stored
            step, params = client.job("data").pull()
            assert step == 8
            assert_params_equal(params, replies[8])
            step, params = client.job("upload").pull()
            assert step == 0
            assert_params_equal(params, initial(2))
            client.get_job("late")
    finally:
        server.kill()


def test_an_import_whose_snapshot_fails_leaves_no_job(tmp_path: pathlib.Path) -> None:
    """Room for the database's writes but not for the imported arrays: the import is refused
    and the job it had created is gone again (it must not outlive its arrays' only copy)."""
    elements = 400_000  # a 1.6 MB snapshot
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir).start()
    try:
        with lrctl.Client(server.address) as client:
            source = client.create_job("source", DATA_POLICY, optimizer={"sgd": {}})
            source.init_params({"w": np.arange(elements, dtype=np.float32)})
            source.export(tmp_path / "source.lrctl")
            database = [data_dir / "lrctl.sqlite", data_dir / "lrctl.sqlite-wal"]
            limit = max(p.stat().st_size for p in database) + 256 * 1024
            assert limit < elements * 4 // 2
            with file_size_limit(server.process.pid, limit):
                with pytest.raises(lrctl.ResourceExhausted, match="storage full"):
                    client.import_job(tmp_path / "source.lrctl", "copy")
                with pytest.raises(lrctl.NotFound):
                    client.get_job("copy")
                assert [p.name for p in snapshot_files(data_dir)] == ["source.npz"]
            step, params = client.import_job(tmp_path / "source.lrctl", "copy").pull()
            assert step == 0 and params["w"].tobytes() == np.arange(elements, dtype=np.float32).tobytes()
    finally:
        server.kill()


def test_snapshot_write_failure_removes_its_temporary_file(tmp_path: pathlib.Path) -> None:
    """The snapshot store itself: a failed write leaves the previous file and no temporary one."""
    from lrctl.server.dataplane import SnapshotStore

    store = SnapshotStore(tmp_path)
    store.write("job", {"params": np.ones(10, np.float32)}, {"next_step": 1})
    previous = store.path("job").read_bytes()
    with pytest.raises(TypeError):
        store.write("job", {"params": np.ones(10, np.float32)}, {"next_step": object()})
    assert store.path("job").read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.npz"]


STORE_UNDER_LIMIT = """
import resource, sys, threading
from lrctl.server.store import JobRecord
from lrctl.server.store.sqlite_store import SqliteStore
from lrctl.server.errors import ResourceExhausted

def job(version):
    return JobRecord("a", "{}", "", "active", "{}", version, 1, 0, 1.0, 1.0)

store = SqliteStore(sys.argv[1] + '/lrctl.sqlite')
store.insert_job(job(1), [])
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))
outcomes = []
barrier = threading.Barrier(8)

def write(version):
    barrier.wait()
    try:
        store.update_job(job(version), expected_version=1)
        outcomes.append("ok")
    except ResourceExhausted as error:
        outcomes.append(str(error))

threads = [threading.Thread(target=write, args=(v,)) for v in range(2, 10)]
for t in threads: t.start()
for t in threads: t.join()
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
print(sorted(set(outcomes)), store.load_job("a").version)
store.update_job(job(42), expected_version=1)
print(store.load_job("a").version)
"""


def test_store_refuses_every_write_of_a_failed_group_commit_and_stays_usable(tmp_path: pathlib.Path) -> None:
    """Concurrent writers share a commit; when it fails for lack of space every one of them is
    told so (none mistakes it for durable), the connection rolls back and the next write
    succeeds. Run in a child process: the file-size limit is per process."""
    result = subprocess.run([sys.executable, "-c", STORE_UNDER_LIMIT, str(tmp_path)], capture_output=True,
                            text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first.startswith("['storage full: ") and first.endswith("] 1"), first
    assert second == "42"
    store = SqliteStore(tmp_path / "lrctl.sqlite")
    assert store.load_job("a").version == 42


def sqlite_error(sql: str, setup: str = "", uri: str = "") -> sqlite3.Error:
    db = sqlite3.connect(uri or ":memory:", uri=bool(uri))
    db.executescript(setup)
    with pytest.raises(sqlite3.Error) as caught:
        db.executescript(sql)
    return caught.value


@pytest.mark.parametrize(("error", "kind", "prefix"), [
    (OSError(errno.ENOSPC, "No space left on device"), ResourceExhausted, "storage full"),
    (OSError(errno.EFBIG, "File too large"), ResourceExhausted, "storage full"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), ResourceExhausted, "storage full"),
    (OSError(errno.EROFS, "Read-only file system"), Unavailable, "storage unavailable"),
    (OSError(errno.EACCES, "Permission denied"), Unavailable, "storage unavailable"),
    (OSError(errno.EIO, "Input/output error"), Unavailable, "storage unavailable"),
], ids=["ENOSPC", "EFBIG", "EDQUOT", "EROFS", "EACCES", "EIO"])
def test_storage_errors_map_to_one_status_each(error: Exception, kind: type, prefix: str) -> None:
    mapped = storage_error(error)
    assert type(mapped) is kind and str(mapped).startswith(prefix + ": ")


def test_sqlite_full_and_readonly_map_like_the_disk_errors(tmp_path: pathlib.Path) -> None:
    full = sqlite_error("INSERT INTO t SELECT randomblob(4096) FROM t;" * 8,
                        "PRAGMA max_page_count=8; CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(4096));")
    assert isinstance(sqlite_failure(full), ResourceExhausted)
    assert str(sqlite_failure(full)) == "storage full: database or disk is full"
    path = tmp_path / "ro.sqlite"
    sqlite3.connect(path).executescript("CREATE TABLE t(x);")
    readonly = sqlite_error("INSERT INTO t VALUES (1)", uri=f"file:{path}?mode=ro")
    assert str(sqlite_failure(readonly)) == "storage unavailable: attempt to write a readonly database"


@pytest.mark.parametrize("blocker", ["data_dir", "snapshots"])
def test_serve_with_an_unusable_data_dir_exits_with_one_clear_line(tmp_path: pathlib.Path, blocker: str) -> None:
    """A data dir under a regular file (or a regular file where the snapshots go) fails even as root."""
    if blocker == "data_dir":
        (tmp_path / "file").write_text("not a directory")
        data_dir = tmp_path / "file" / "data"
    else:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        (data_dir / "snapshots").write_text("not a directory")
    result = subprocess.run([sys.executable, "-m", "lrctl.cli.main", "serve", "--listen", "127.0.0.1:0",
                             "--metrics-port", "0", "--data-dir", str(data_dir)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("lrctl serve: storage unavailable: ") and str(data_dir) in last, result.stderr
