"""Data-parallel jobs against a real server: W ranks send each step's gradients, the server
waits for all of them, reduces them in rank order, applies the step once and answers every
rank the same. Exactly once per (job, step, rank), stragglers aborted, one decision for all,
pulls before the forward pass."""
from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np
import pytest
import torch

import lrctl
from tests.faults._support import metric_value
from tests.support.server_process import ServerProcess

POLICY = {"lr": 0.1}
SHAPES = {"w": (4, 3), "b": (3,)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    process = ServerProcess(tmp_path_factory.mktemp("workers")).start()
    yield process
    process.kill()


def gradients(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def initial() -> dict[str, np.ndarray]:
    return {name: np.full(shape, 0.5, np.float32) for name, shape in SHAPES.items()}


def create(client: lrctl.Client, job_id: str, workers: int, **optimizer) -> lrctl.Job:
    spec = {"sgd": {"momentum": 0.9}, "workers": workers, **optimizer}
    job = client.create_job(job_id, POLICY, optimizer=spec)
    job.init_params(initial())
    return job


def concurrently(*calls: Callable[[], object]) -> list[object]:
    """Runs each call on its own thread; their results (or exceptions) in order."""
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
            results[index] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def torch_sgd(grads_per_step: list[dict[str, np.ndarray]], **options) -> dict[str, np.ndarray]:
    params = {name: torch.tensor(value) for name, value in initial().items()}
    for tensor in params.values():
        tensor.requires_grad_(True)
    optimizer = torch.optim.SGD(params.values(), lr=POLICY["lr"], momentum=0.9, **options)
    for grads in grads_per_step:
        for name, tensor in params.items():
            tensor.grad = torch.tensor(grads[name])
        optimizer.step()
    return {name: tensor.detach().numpy() for name, tensor in params.items()}


def ranked(address: str, job_id: str) -> lrctl.Job:
    return lrctl.Client(address).job(job_id)


def test_every_rank_gets_the_step_of_the_mean_gradient_whatever_the_order(server: ServerProcess) -> None:
    outcomes = {}
    for order in ((0, 1, 2), (2, 0, 1)):
        job_id = f"mean-{''.join(map(str, order))}"
        with lrctl.Client(server.address) as client:
            create(client, job_id, workers=3)
        for step in range(3):
            handles = {rank: ranked(server.address, job_id) for rank in order}
            started: list = []

            def send(rank: int, step: int = step):
                started.append(rank)
                return handles[rank].step(step, gradients(10 * step + rank), rank=rank)
            results = concurrently(*(lambda rank=rank: send(rank) for rank in order))
            assert all(isinstance(r, lrctl.StepResult) for r in results), results
            assert len({r.params["w"].tobytes() for r in results}) == 1, "every rank got the same parameters"
            assert {r.step for r in results} == {step} and not any(r.duplicate for r in results)
        outcomes[order] = results[0].params
    assert all(outcomes[(0, 1, 2)][n].tobytes() == outcomes[(2, 0, 1)][n].tobytes() for n in SHAPES), \
        "bit-identical whatever order the ranks arrive in"
    mean = [{n: np.mean([gradients(10 * s + r)[n] for r in range(3)], axis=0, dtype=np.float32) for n in SHAPES}
            for s in range(3)]
    expected = torch_sgd(mean)
    for name in SHAPES:
        np.testing.assert_allclose(outcomes[(0, 1, 2)][name], expected[name], rtol=1e-6)


def test_sum_reduction_adds_the_gradients(server: ServerProcess) -> None:
    with lrctl.Client(server.address) as client:
        create(client, "summed", workers=2, gradient_reduction="sum")
    results = concurrently(*(lambda rank=rank: ranked(server.address, "summed").step(0, gradients(rank), rank=rank)
                             for rank in range(2)))
    total = {n: gradients(0)[n] + gradients(1)[n] for n in SHAPES}
    expected = torch_sgd([total])
    for name in SHAPES:
        np.testing.assert_allclose(results[0].params[name], expected[name], rtol=1e-6)


def test_a_rank_outside_the_workers_is_invalid_and_a_future_step_is_refused(server: ServerProcess) -> None:
    with lrctl.Client(server.address) as client:
        job = create(client, "bounds", workers=2)
        with pytest.raises(lrctl.InvalidArgument) as error:
            job.step(0, gradients(0), rank=2)
        assert [field for field, _ in error.value.field_violations] == ["header.rank"]
        with pytest.raises(lrctl.FailedPrecondition) as refused:
            job.step(1, gradients(0), rank=0)
        assert refused.value.server_step == 0


def test_a_second_gradient_of_a_rank_waits_for_the_step_and_is_answered_duplicate(server: ServerProcess) -> None:
    with lrctl.Client(server.address) as client:
        create(client, "twice", workers=2)
    first = {}

    def rank0_first():
        first["result"] = ranked(server.address, "twice").step(0, gradients(0), rank=0)
        return first["result"]
    thread = threading.Thread(target=rank0_first)
    thread.start()
    time.sleep(0.3)  # only orders rank 0's first call before its second; correctness does not depend on it
    results = concurrently(lambda: ranked(server.address, "twice").step(0, gradients(99), rank=0),
                           lambda: (time.sleep(0.3), ranked(server.address, "twice").step(0, gradients(1), rank=1))[1])
    thread.join(30)
    second, rank1 = results
    assert second.duplicate and not first["result"].duplicate and not rank1.duplicate
    expected = torch_sgd([{n: (gradients(0)[n] + gradients(1)[n]) / 2 for n in SHAPES}])
    for name in SHAPES:  # the first gradient of rank 0 counted, the second did not
        np.testing.assert_allclose(second.params[name], expected[name], rtol=1e-6)
    with lrctl.Client(server.address) as client:
        retry = client.job("twice").step(0, gradients(0), rank=1)
        assert retry.duplicate and retry.server_step == 1, "a retry of the applied step applies nothing"


def test_a_straggler_aborts_the_step_for_every_waiting_rank_and_it_can_be_sent_again(server: ServerProcess) -> None:
    with lrctl.Client(server.address) as client:
        create(client, "straggler", workers=3, step_timeout_seconds=0.5)
    started = time.monotonic()
    results = concurrently(*(lambda rank=rank: ranked(server.address, "straggler").step(0, gradients(rank), rank=rank)
                             for rank in (0, 2)))
    assert time.monotonic() - started < 5
    for result in results:
        assert isinstance(result, lrctl.Aborted), result
        assert "no gradient from rank 1 within 0.5 s" in str(result)
    with lrctl.Client(server.address) as client:
        step, params = client.job("straggler").pull()
    assert step == 0 and params["w"].tobytes() == initial()["w"].tobytes(), "nothing applied"
    again = concurrently(*(lambda rank=rank: ranked(server.address, "straggler").step(0, gradients(rank), rank=rank)
                           for rank in range(3)))
    assert all(isinstance(r, lrctl.StepResult) and r.server_step == 1 for r in again), again


def test_thousands_of_aborted_steps_leave_nothing_behind(server: ServerProcess) -> None:
    with lrctl.Client(server.address) as client:
        for n in range(4):
            create(client, f"aborted-{n}", workers=2, step_timeout_seconds=0.01)
            with pytest.raises(lrctl.Aborted):  # the first step allocates the job's buffers for its ranks
                client.job(f"aborted-{n}").step(0, gradients(0), rank=0, reply="none")
        memory = metric_value(server.metrics_url, "lrctl_device_memory_bytes", device="cpu")

        def abort_many(job_id: str) -> int:
            job, aborted = client.job(job_id), 0
            for _ in range(300):
                try:
                    job.step(0, gradients(0), rank=0, reply="none")
                except lrctl.Aborted:
                    aborted += 1
            return aborted

        counts = concurrently(*(lambda n=n: abort_many(f"aborted-{n}") for n in range(4)))
        assert counts == [300] * 4, counts
        assert metric_value(server.metrics_url, "lrctl_device_memory_bytes", device="cpu") == memory
        results = concurrently(*(lambda rank=rank: client.job("aborted-0").step(0, gradients(rank), rank=rank)
                                 for rank in range(2)))
        assert all(isinstance(r, lrctl.StepResult) and r.server_step == 1 for r in results), results


@pytest.mark.parametrize("policy", ["skip", "reject"])
def test_a_nonfinite_gradient_of_any_rank_decides_for_every_rank(server: ServerProcess, policy: str) -> None:
    with lrctl.Client(server.address) as client:
        create(client, f"nonfinite-{policy}", workers=2, on_nonfinite_gradient=policy)
    bad = gradients(1)
    bad["b"][1] = np.nan
    with pytest.warns(lrctl.NonFiniteGradientWarning) if policy == "skip" else _no_warning():
        results = concurrently(
            lambda: ranked(server.address, f"nonfinite-{policy}").step(0, gradients(0), rank=0),
            lambda: ranked(server.address, f"nonfinite-{policy}").step(0, bad, rank=1))
    if policy == "skip":
        assert all(r.skipped_nonfinite and r.server_step == 1 for r in results), results
        assert results[0].params["w"].tobytes() == initial()["w"].tobytes()
    else:
        assert all(isinstance(r, lrctl.InvalidArgument) for r in results), results
        with lrctl.Client(server.address) as client:
            assert client.job(f"nonfinite-{policy}").pull().step == 0


class _no_warning:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_global_clipnorm_clips_the_reduced_gradient(server: ServerProcess) -> None:
    with lrctl.Client(server.address) as client:
        create(client, "clipped", workers=2, global_clipnorm=0.5)
    results = concurrently(*(lambda rank=rank: ranked(server.address, "clipped").step(0, gradients(rank), rank=rank)
                             for rank in range(2)))
    mean = {n: torch.tensor((gradients(0)[n] + gradients(1)[n]) / 2) for n in SHAPES}
    params = {name: torch.tensor(value, requires_grad=True) for name, value in initial().items()}
    for name, tensor in params.items():
        tensor.grad = mean[name].clone()
    torch.nn.utils.clip_grad_norm_(params.values(), 0.5)
    torch.optim.SGD(params.values(), lr=POLICY["lr"], momentum=0.9).step()
    for name in SHAPES:
        np.testing.assert_allclose(results[0].params[name], params[name].detach().numpy(), rtol=1e-6)


def test_rows_from_every_rank_are_summed_per_row(server: ServerProcess) -> None:
    with lrctl.Client(server.address) as client:
        job = client.create_job("rows", POLICY, optimizer={"sgd": {}, "workers": 2})
        job.init_params({"table": np.zeros((6, 2), np.float32)})
    sends = [lrctl.Rows(np.array([1, 4]), np.ones((2, 2), np.float32), (6, 2)),
             lrctl.Rows(np.array([4, 5, 4]), np.full((3, 2), 2.0, np.float32), (6, 2))]
    results = concurrently(*(lambda rank=rank: ranked(server.address, "rows").step(0, {"table": sends[rank]}, rank=rank,
                                                                                  reply="touched")
                             for rank in range(2)))
    touched = results[0].params["table"]
    assert sorted(touched.rows.tolist()) == [1, 4, 5]
    by_row = dict(zip(touched.rows.tolist(), touched.values[:, 0].tolist()))
    # mean over 2 workers: row 1: 1/2, row 4: (1 + 2 + 2)/2, row 5: 2/2; SGD lr 0.1 from 0
    assert by_row == pytest.approx({1: -0.05, 4: -0.25, 5: -0.1})


def test_other_ranks_pull_the_parameters_and_rows_by_id(server: ServerProcess) -> None:
    with lrctl.Client(server.address) as client:
        job = client.create_job("lookup", POLICY, optimizer={"adam": {}, "workers": 2})
        table = np.arange(24, dtype=np.float32).reshape(8, 3)
        job.init_params({"table": table, "bias": np.ones(3, np.float32)})
        other = client.job("lookup")
        step, subset = other.pull(names=["bias"])
        assert step == 0 and list(subset) == ["bias"] and subset["bias"].tolist() == [1.0] * 3
        step, found = other.pull_rows("table", [5, 0, 5, 7])
        assert step == 0 and found["table"].tolist() == table[[5, 0, 5, 7]].tolist()
        assert other.pull_rows("table", []).params["table"].shape == (0, 3)
        with pytest.raises(lrctl.InvalidArgument, match="row out of range"):
            other.pull_rows("table", [8])
        with pytest.raises(lrctl.InvalidArgument, match="2-D"):
            other.pull_rows("bias", [0])
        with pytest.raises(lrctl.InvalidArgument, match="Unknown tensor"):
            other.pull(names=["nope"])
        wide = client.create_job("wide", POLICY, optimizer={"sgd": {}})
        wide.init_params({"table": np.zeros((1, 1024), np.float32)})
        with pytest.raises(lrctl.ResourceExhausted, match="pull size limit exceeded"):
            wide.pull_rows("table", np.zeros(65_537, np.int64))


WAITING_RANK = """
import sys, numpy as np, lrctl
address, job_id = sys.argv[1], sys.argv[2]
print("sending", flush=True)
lrctl.Client(address, timeout=60).job(job_id).step(0, {"w": np.ones((4, 3), np.float32), "b": np.ones(3, np.float32)},
                                                   rank=0)
"""


def test_a_rank_that_vanishes_while_waiting_takes_its_gradient_with_it(server: ServerProcess) -> None:
    import subprocess
    import sys

    from tests.faults._support import wait_for

    with lrctl.Client(server.address) as client:
        create(client, "vanishing", workers=2, step_timeout_seconds=1.0)
    step = {"grpc_service": "lrctl.v1.Optimizer", "grpc_method": "Step", "grpc_type": "bidi_stream"}
    started = metric_value(server.metrics_url, "grpc_server_started_total", **step)
    child = subprocess.Popen([sys.executable, "-c", WAITING_RANK, server.address, "vanishing"], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "sending"
        wait_for(lambda: metric_value(server.metrics_url, "grpc_server_started_total", **step) > started, 10,
                 "rank 0's step to reach the server")
        time.sleep(0.2)  # its gradient arrives; the kill below is what the test is about, not this wait
        child.kill()
        child.wait(10)
        with lrctl.Client(server.address) as client, pytest.raises(lrctl.Aborted, match="no gradient from rank 0"):
            client.job("vanishing").step(0, gradients(1), rank=1)
    finally:
        child.kill()
    with lrctl.Client(server.address) as client:
        assert client.job("vanishing").pull().step == 0
    aborted = metric_value(server.metrics_url, "lrctl_device_memory_bytes", device="cpu")
    results = concurrently(*(lambda rank=rank: ranked(server.address, "vanishing").step(0, gradients(rank), rank=rank)
                             for rank in range(2)))
    assert all(isinstance(r, lrctl.StepResult) and r.server_step == 1 for r in results), results
    assert metric_value(server.metrics_url, "lrctl_device_memory_bytes", device="cpu") == aborted, \
        "the vanished rank's call held nothing beyond the job's own rank buffers"


def test_snapshots_and_exports_hold_whole_steps_and_ranks_resync_after_sigkill(tmp_path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        with lrctl.Client(server.address) as client:
            create(client, "whole", workers=2, snapshot_every_steps=1)
        first = concurrently(*(lambda rank=rank: ranked(server.address, "whole").step(0, gradients(rank), rank=rank)
                               for rank in range(2)))
        after_step_0 = first[0].params
        waiting = threading.Thread(target=lambda: concurrently(
            lambda: ranked(server.address, "whole").step(1, gradients(5), rank=0, timeout=30)))
        waiting.start()
        time.sleep(0.5)  # rank 0's step 1 is waiting for rank 1 when the export and the kill come
        with lrctl.Client(server.address) as client:
            client.job("whole").export(tmp_path / "whole.lrctl")
        server.kill()
        waiting.join(30)
        server = ServerProcess(tmp_path / "data").start()
        with lrctl.Client(server.address) as client:
            imported = client.import_job(tmp_path / "whole.lrctl", "whole-copy")
            for job in (client.job("whole"), imported):
                step, params = job.pull()
                assert step == 1, "a step half collected is in neither the snapshot nor the export"
                assert all(params[n].tobytes() == after_step_0[n].tobytes() for n in SHAPES)
        again = concurrently(*(lambda rank=rank: ranked(server.address, "whole").step(1, gradients(rank), rank=rank)
                               for rank in range(2)))
        assert all(isinstance(r, lrctl.StepResult) and r.server_step == 2 for r in again), again
    finally:
        server.kill()
