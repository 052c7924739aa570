"""What only the PostgreSQL store has: migrations shared by replicas starting together, the
change feed that keeps replicas' caches coherent, and the database's errors in the contract's
terms. Runs against a throwaway cluster (tests/support/postgres.py)."""
from __future__ import annotations

import json
import threading
import time

import pytest

from lrctl.server.errors import FailedPrecondition, InvalidArgument, Unavailable
from lrctl.server.store import SCHEMA_VERSION, JobRecord, open_store
from tests.support.postgres import free_port

psycopg = pytest.importorskip("psycopg", reason="psycopg not installed: pip install -e '.[postgres]'")


def job(job_id: str, version: int = 1) -> JobRecord:
    return JobRecord(job_id, "{}", "", "active", "{}", version, 1, 0, 1234.5678901234567, 1.0)


class Recorder:
    """A ChangeListener that keeps what it was told."""

    def __init__(self) -> None:
        self.told: list[tuple] = []
        self.resyncs = 0
        self.lock = threading.Lock()

    def job_changed(self, job_id: str, version: int, create_time: float) -> None:
        with self.lock:
            self.told.append(("changed", job_id, version, create_time))

    def job_deleted(self, job_id: str, create_time: float) -> None:
        with self.lock:
            self.told.append(("deleted", job_id, create_time))

    def resync(self) -> None:
        self.resyncs += 1


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def database(postgres_cluster) -> str:
    return postgres_cluster.create_database()


def test_replicas_starting_together_migrate_once(database: str) -> None:
    stores, errors = [], []

    def start() -> None:
        try:
            stores.append(open_store(database))
        except Exception as error:  # noqa: BLE001 - the test reports it
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and {s.schema_version() for s in stores} == {SCHEMA_VERSION}
    for store in stores:
        store.close()


def test_a_version_1_database_upgrades_and_its_events_read_back_as_single_occurrences(postgres_cluster,
                                                                                      database: str) -> None:
    from lrctl.server.store.postgres_store import MIGRATIONS

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(MIGRATIONS[0])
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute("INSERT INTO jobs VALUES ('old', '{}', '', 'active', '{}', 1, 1, 0, 1.0, 1.0)")
        conn.execute("INSERT INTO events VALUES ('old', 1, 'restart', 40, 0.1, '', 1.0, '{}')")
    store = open_store(database)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        [event] = store.list_events("old", 0, 10)
        assert (event.step, event.count, event.first_step) == (40, 1, None)
    finally:
        store.close()


def test_a_version_2_database_moves_its_scale_histories_into_rows(postgres_cluster, database: str) -> None:
    from lrctl.server.store.postgres_store import MIGRATIONS

    state = '{"plateau": {"best": 1.5, "scales": [[5, 0.5], [9007199254740993, 0.1]]}, "last_report_step": 7}'
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(MIGRATIONS[0])
        conn.execute(MIGRATIONS[1])
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (2)")
        conn.execute("INSERT INTO jobs VALUES ('old', '{}', '', 'active', %s, 1, 1, 0, 1.0, 1.0)", (state,))
        conn.execute("INSERT INTO jobs VALUES ('plain', '{}', '', 'active', '{}', 1, 1, 0, 1.0, 1.0)")
    store = open_store(database)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        moved = store.load_job("old")
        assert moved.scales == ((5, 0.5), (9007199254740993, 0.1))
        assert json.loads(moved.state_json) == {"plateau": {"best": 1.5}, "last_report_step": 7}
        assert store.load_job("plain").scales == ()
    finally:
        store.close()


def test_a_version_3_database_upgrades_with_its_jobs_unowned(database: str) -> None:
    """Migration 4 adds the data-plane owners: a job from before has none until it is claimed."""
    from lrctl.server.store.postgres_store import MIGRATIONS

    with psycopg.connect(database, autocommit=True) as conn:
        for migration in MIGRATIONS[:3]:
            conn.execute(migration)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (3)")
        conn.execute("INSERT INTO jobs VALUES ('old', '{}', '', 'active', '{}', 1, 1, 0, 1.0, 1.0)")
    store = open_store(database)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.load_owner("old", 1.0) is None
        store.register_replica("r1", "a:1")
        claimed = store.claim_owner("old", 1.0, "r1")
        assert (claimed.replica_id, claimed.epoch, claimed.snapshot_step, claimed.address) == ("r1", 1, -1, "a:1")
    finally:
        store.close()


def test_a_schema_newer_than_this_server_knows_is_refused(postgres_cluster, database: str) -> None:
    open_store(database).close()
    postgres_cluster.sql(database, "UPDATE schema_version SET version = %s", SCHEMA_VERSION + 1)
    with pytest.raises(FailedPrecondition, match=f"has schema version {SCHEMA_VERSION + 1}, newer than the "
                                                 f"{SCHEMA_VERSION} this lrctl knows"):
        open_store(database)


def test_the_feed_tells_one_handle_what_another_committed(database: str) -> None:
    reader, writer, recorder = open_store(database), open_store(database), Recorder()
    reader.listen(recorder)
    wait_for(lambda: reader.sync_point().as_of > float("-inf"))
    writer.insert_job(job("a"), [])
    writer.update_job(job("a", 2), 1)
    committed = time.monotonic()
    writer.delete_job("a")
    wait_for(lambda: len(recorder.told) == 3)
    assert recorder.told == [("changed", "a", 1, 1234.5678901234567), ("changed", "a", 2, 1234.5678901234567),
                             ("deleted", "a", 1234.5678901234567)]
    wait_for(lambda: reader.sync_point().as_of >= committed, timeout=2)
    reader.close()
    writer.close()


def test_a_dropped_feed_connection_resyncs_and_comes_back(postgres_cluster, database: str) -> None:
    store, recorder = open_store(database), Recorder()
    store.listen(recorder)
    wait_for(lambda: store.sync_point().as_of > float("-inf"))
    before = store.sync_point()
    postgres_cluster.sql(database, "SELECT pg_terminate_backend(%s)", store._feed.backend_pid)
    wait_for(lambda: store.sync_point().generation > before.generation and recorder.resyncs >= 2)
    dropped = time.monotonic()
    wait_for(lambda: store.sync_point().as_of >= dropped, timeout=5)
    store.insert_job(job("b"), [])
    wait_for(lambda: ("changed", "b", 1, 1234.5678901234567) in recorder.told)
    store.close()


def test_an_unreachable_database_is_unavailable_and_names_it_without_the_password() -> None:
    with pytest.raises(Unavailable, match=r"storage unavailable: .*\(postgresql://lrctl:\*\*\*@127\.0\.0\.1:") as info:
        open_store(f"postgresql://lrctl:secret@127.0.0.1:{free_port()}/lrctl")
    assert "secret" not in str(info.value)


def test_a_missing_database_is_unavailable_with_the_reason(postgres_cluster) -> None:
    with pytest.raises(Unavailable, match='database "no_such_db" does not exist'):
        open_store(postgres_cluster.url("no_such_db"))


def test_values_the_schema_cannot_hold_are_bad_arguments_and_write_nothing(database: str) -> None:
    store = open_store(database)
    with pytest.raises(InvalidArgument, match="a value the store cannot hold"):
        store.insert_job(job("a", 2**64), [])
    with pytest.raises(InvalidArgument, match="a value the store cannot hold"):
        store.insert_job(JobRecord("b", "{}", "key\x00", "active", "{}", 1, 1, 0, 1.0, 1.0), [])
    assert store.count_jobs() == {}
    store.close()


def test_a_database_that_goes_away_is_unavailable_then_serves_again(postgres_cluster) -> None:
    """Every pooled connection breaks when the server restarts; the next reads and writes
    work again without restarting lrctl."""
    from tests.support.postgres import PostgresCluster

    own = PostgresCluster().start()
    try:
        url = own.create_database()
        store = open_store(url)
        store.insert_job(job("a"), [])
        own.process.send_signal(2)
        own.process.wait(30)
        with pytest.raises(Unavailable, match="storage unavailable"):
            store.load_job("a")
        with pytest.raises(Unavailable, match="storage unavailable"):
            store.update_job(job("a", 2), 1)
        own.restart()
        wait_for(lambda: _loads(store, "a"), timeout=20)
        store.update_job(job("a", 2), 1)
        assert store.load_job("a").version == 2
        store.close()
    finally:
        own.stop()


def _loads(store, job_id: str) -> bool:
    try:
        return store.load_job(job_id) is not None
    except Unavailable:
        return False
