"""A data-plane job lives on one replica at a time (server/dataplane/ownership.py).

Real `lrctl serve` processes on one PostgreSQL database: a data-plane call on another replica
is answered FAILED_PRECONDITION with the owner's address, which the SDK follows; with the
owner SIGKILLed the job's data-plane calls fail UNAVAILABLE naming it while its control-plane
calls keep working on the others. The fence is tested in process, where the epoch can be moved
between a step's ownership check and its snapshot commit, as a takeover would.
"""
from __future__ import annotations

import pathlib
import time
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_status import rpc_status

import lrctl
from lrctl.optimizer import to_optimizer_spec
from lrctl.policy import to_policy
from lrctl.server.backends import select_backend
from lrctl.server.dataplane import DataPlane, ReplyOptions, SnapshotStore
from lrctl.server.dataplane.chunks import Chunk
from lrctl.server.dataplane.ownership import OWNER_SILENCE_SECONDS, Ownership
from lrctl.server.errors import FailedPrecondition, NotOwner
from lrctl.server.jobs import JobRegistry
from lrctl.server.metrics import ServerMetrics
from lrctl.server.service.job_codec import spec_from_document, spec_from_proto
from lrctl.server.store import open_store
from lrctl.v1 import controller_pb2, optimizer_pb2
from tests.support.replicas import start_replicas, target
from tests.support.server_process import ServerProcess

POLICY = {"lr": 0.5, "plateau": {"metric": "loss", "patience": 0, "factor": 0.5}}
CONSTANT = {"lr": 0.5, "early_stopping": {"metric": "loss", "patience": 100}}
SGD = {"sgd": {}, "snapshot_every_steps": 1}
ONES = {"w": np.ones(4, dtype=np.float32)}


def replica_id(server: ServerProcess) -> str:
    return (pathlib.Path(server.data_dir) / "replica-id").read_text().strip()


def handled(server: ServerProcess, method: str, code: str) -> float:
    text = urllib.request.urlopen(server.metrics_url, timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("grpc_server_handled_total{") and f'grpc_method="{method}"' in line
               and f'grpc_code="{code}"' in line)


def raw_step(server: ServerProcess, job_id: str, step: int) -> grpc.RpcError:
    """A Step sent straight to `server` by a client that follows nothing; returns its error."""
    header = optimizer_pb2.StepRequest(header=optimizer_pb2.StepHeader(job_id=job_id, step=step))
    chunk = optimizer_pb2.StepRequest(chunk=optimizer_pb2.TensorChunk(
        name="w", shape=[4], dtype=optimizer_pb2.DTYPE_FLOAT32, data=np.ones(4, "<f4").tobytes()))
    with grpc.insecure_channel(server.address) as channel:
        call = channel.stream_stream("/lrctl.v1.Optimizer/Step",
                                     request_serializer=optimizer_pb2.StepRequest.SerializeToString,
                                     response_deserializer=optimizer_pb2.StepResponse.FromString)
        with pytest.raises(grpc.RpcError) as refused:
            list(call(iter([header, chunk]), timeout=10))
    return refused.value


def owner_detail(error: grpc.RpcError) -> optimizer_pb2.DataPlaneOwner:
    [detail] = [d for d in rpc_status.from_call(error).details if d.Is(optimizer_pb2.DataPlaneOwner.DESCRIPTOR)]
    owner = optimizer_pb2.DataPlaneOwner()
    detail.Unpack(owner)
    return owner


@pytest.fixture(scope="module")
def database(postgres_cluster) -> str:
    return postgres_cluster.create_database()


@pytest.fixture(scope="module")
def replicas(database, tmp_path_factory: pytest.TempPathFactory):
    servers = start_replicas(database, tmp_path_factory.mktemp("owners"), 2)
    yield servers
    for server in servers:
        server.kill()


def test_a_step_sent_to_another_replica_is_redirected_and_lands_on_the_owner(replicas) -> None:
    a, b = replicas
    with lrctl.Client(a.address) as on_a, lrctl.Client(b.address) as on_b, \
            lrctl.Client(target(replicas)) as on_both:
        job = on_a.create_job("redirected", POLICY, optimizer=SGD)
        job.init_params(ONES)
        error = raw_step(b, "redirected", 0)
        owner = owner_detail(error)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and a.address in error.details()
        print(f"a step on another replica: {error.code().name}: {error.details()}")
        assert (owner.job_id, owner.address, owner.replica_id, owner.epoch) == ("redirected", a.address,
                                                                                replica_id(a), 1)
        with pytest.raises(lrctl.FailedPrecondition) as upload_elsewhere:  # the first claim won
            on_b.transport.call("UploadParameters", iter([optimizer_pb2.UploadParametersRequest(
                header=optimizer_pb2.UploadHeader(job_id="redirected"))]))
        assert upload_elsewhere.value.owner.address == a.address
        steps_on_a = handled(a, "Step", "OK")
        expected = np.ones(4)
        for step in range(6):  # through B alone, then through either replica, round robin
            client = on_b if step < 3 else on_both
            if step == 2:
                client.job("redirected").report(0, loss=1.0)
                client.job("redirected").report(1, loss=2.0)  # the LR halves, decided on B
                deadline = time.monotonic() + 5
                while on_a.job("redirected").lease(2, 1).lr != pytest.approx(0.25):  # A's cache has it
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
            lr = 0.25 if step >= 2 else 0.5
            expected = expected - lr * 1.0
            result = client.job("redirected").step(step, ONES)
            assert result.lr == pytest.approx(lr) and result.params["w"] == pytest.approx(expected)
        assert handled(a, "Step", "OK") - steps_on_a == 6 and handled(b, "Step", "OK") == 0
        assert handled(b, "Step", "FailedPrecondition") >= 2  # the raw step and on_b's first
        pulled = on_b.job("redirected").pull()
        assert pulled.step == 6 and pulled.params["w"] == pytest.approx(expected)


def test_an_imported_job_lives_on_the_replica_that_imported_it(replicas, tmp_path) -> None:
    a, b = replicas
    with lrctl.Client(a.address) as on_a, lrctl.Client(b.address) as on_b:
        job = on_a.create_job("exported", POLICY, optimizer=SGD)
        job.init_params(ONES)
        job.step(0, ONES)
        on_b.job("exported").export(tmp_path / "job.npz")  # exported by A, the owner
        imported = on_b.import_job(tmp_path / "job.npz", "imported")
        assert imported.pull().step == 1
        error = raw_step(a, "imported", 1)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and owner_detail(error).address == b.address
        assert on_a.job("imported").step(1, ONES).params["w"] == pytest.approx([0.0] * 4)


def test_with_its_owner_down_a_job_s_data_plane_is_unavailable_naming_it_and_its_control_plane_works(
        database, replicas, tmp_path) -> None:
    """The owner is SIGKILLed: the SDK's step fails UNAVAILABLE naming it at once (a redirect to
    an address that does not answer), and once its heartbeat is OWNER_SILENCE_SECONDS old the
    other replicas say so themselves; GetLearningRate and ReportMetrics go on. Started again
    from its data dir on another port, it is the same replica: the job follows it there and
    resumes from its snapshot."""
    owner = ServerProcess(tmp_path / "owner", ["--store", database]).start()
    try:
        with lrctl.Client(owner.address) as on_owner, lrctl.Client(target(replicas)) as others:
            on_owner.create_job("orphaned", CONSTANT, optimizer=SGD).init_params(ONES)
            job = others.job("orphaned", horizon=1)
            job.step(0, ONES)
            owner.kill()
            with pytest.raises(lrctl.Unavailable) as down:
                job.step(1, ONES)
            assert owner.address in str(down.value)
            print(f"the SDK's step with the owner SIGKILLed: {down.value}")
            killed = time.monotonic()
            for step in range(3):
                assert job.lr(step) == pytest.approx(0.5) and not job.degraded.outages
                assert not job.report(step, loss=1.0).pending
            deadline = killed + OWNER_SILENCE_SECONDS + 10
            while True:
                error = raw_step(replicas[0], "orphaned", 1)
                if error.code() == grpc.StatusCode.UNAVAILABLE:
                    break
                assert time.monotonic() < deadline, error.details()
                time.sleep(0.5)
            assert owner.address in error.details() and "it is down" in error.details()
            print(f"a step on another replica {time.monotonic() - killed:.1f} s after: {error.details()}")
            assert owner_detail(error).address == owner.address
            with pytest.raises(lrctl.Unavailable, match="it is down"):
                job.pull()
            assert others.job("orphaned").lease(3, 1).lr == pytest.approx(0.5)
            back = ServerProcess(owner.data_dir, ["--store", database]).start()
            try:
                assert back.address != owner.address and replica_id(back) == replica_id(owner)
                assert job.pull().step == 1
                assert job.step(1, ONES).params["w"] == pytest.approx([0.0] * 4)
            finally:
                back.kill()
    finally:
        owner.kill()


# ---- the fence, in process ------------------------------------------------------------------
def job_spec():
    return spec_from_proto(controller_pb2.JobSpec(policy=to_policy({"lr": 0.5}), optimizer=to_optimizer_spec(SGD)))


def data_plane(store, directory: pathlib.Path, name: str) -> tuple[JobRegistry, DataPlane]:
    """Replica `name` at the data-plane layer, on its own handle of the store."""
    jobs = JobRegistry(store, spec_from_document, ServerMetrics())
    ownership = Ownership(store, name)
    ownership.register(f"{name}:50051")
    return jobs, DataPlane(jobs, select_backend("cpu"), SnapshotStore(directory / name), ServerMetrics(), ownership)


def upload_and_step(jobs: JobRegistry, plane: DataPlane) -> None:
    jobs.create("fenced", job_spec())
    upload = plane.begin_upload("fenced")
    upload.add(Chunk("w", (4,), "float32", 0, np.ones(4, "<f4").tobytes()))
    plane.finish_upload(upload)
    step_input = begin(plane, 0)
    try:
        assert plane.steps.contribute(step_input).collector.done.result(30).result.server_step == 1
    finally:
        plane.steps.end(step_input)


def begin(plane: DataPlane, step: int):
    step_input = plane.steps.begin("fenced", step, 0, ReplyOptions())
    step_input.add(Chunk("w", (4,), "float32", 0, np.ones(4, "<f4").tobytes()))
    return step_input


def test_a_replica_whose_epoch_moved_on_commits_nothing_and_drops_the_job(postgres_cluster, tmp_path) -> None:
    """Replica A's step 1 passed its ownership check; then the job moves to B (epoch 2), as a
    takeover does. The step's snapshot commit is refused: no answer acknowledges it, the
    database keeps A's last committed step, A drops its arrays and its snapshot, and every
    later call on A points to B."""
    url = postgres_cluster.create_database()
    stores = [open_store(url) for _ in range(3)]
    try:
        jobs, plane = data_plane(stores[0], tmp_path, "a")
        upload_and_step(jobs, plane)
        store = stores[2]
        create_time = store.load_job("fenced").create_time
        assert store.load_owner("fenced", create_time).snapshot_step == 1
        checked = begin(plane, 1)  # A still holds the job here
        _, on_b = data_plane(stores[1], tmp_path, "b")
        assert store.move_owner("fenced", create_time, 1, "b").epoch == 2
        contributed = plane.steps.contribute(checked)
        with pytest.raises(NotOwner) as fenced:
            contributed.collector.done.result(10)
        plane.steps.end(checked)
        assert (fenced.value.owner.replica_id, fenced.value.owner.epoch) == ("b", 2)
        after = store.load_owner("fenced", create_time)
        assert (after.replica_id, after.epoch, after.snapshot_step) == ("b", 2, 1)  # nothing committed after the move
        assert not (tmp_path / "a" / "fenced.npz").exists()
        with pytest.raises(NotOwner, match="b:50051"):
            plane.pull("fenced", options=ReplyOptions())
        with pytest.raises(FailedPrecondition, match="has no parameters yet"):  # no takeover from snapshots yet
            on_b.pull("fenced", options=ReplyOptions())
    finally:
        for store in stores:
            store.close()


def test_a_job_from_before_owners_were_recorded_is_claimed_by_the_replica_with_its_snapshot(postgres_cluster,
                                                                                            tmp_path) -> None:
    """A shared database upgraded to owners: A stepped the job before, its owner row is absent.
    B, without the arrays, answers as before (no parameters) and claims nothing; A restores
    its snapshot and claims the job, and B then points to A."""
    url = postgres_cluster.create_database()
    stores = [open_store(url) for _ in range(2)]
    try:
        jobs, on_a = data_plane(stores[0], tmp_path, "a")
        upload_and_step(jobs, on_a)
        create_time = stores[0].load_job("fenced").create_time
        postgres_cluster.sql(url, "DELETE FROM dataplane_owners")
        _, on_a = data_plane(stores[0], tmp_path, "a")  # A restarted: nothing in memory
        _, on_b = data_plane(stores[1], tmp_path, "b")
        with pytest.raises(FailedPrecondition, match="has no parameters yet"):
            on_b.pull("fenced", options=ReplyOptions())
        assert stores[1].load_owner("fenced", create_time) is None
        assert on_a.pull("fenced", options=ReplyOptions())[0].server_step == 1
        assert stores[1].load_owner("fenced", create_time).replica_id == "a"
        with pytest.raises(NotOwner, match="a:50051"):
            on_b.pull("fenced", options=ReplyOptions())
    finally:
        for store in stores:
            store.close()


def test_one_server_on_sqlite_owns_every_job_and_writes_no_owner(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/lrctl.sqlite")
    jobs = JobRegistry(store, spec_from_document, ServerMetrics())
    plane = DataPlane(jobs, select_backend("cpu"), SnapshotStore(tmp_path / "snapshots"), ServerMetrics(),
                      Ownership(store, "the-only-server"))
    upload_and_step(jobs, plane)
    assert plane.pull("fenced", options=ReplyOptions())[0].server_step == 1
    assert store.load_owner("fenced", jobs.get("fenced").create_time) is None
    store.close()
