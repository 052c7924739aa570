"""Failover that training loops do not see, and outages of every replica that they ride out.

Real `lrctl serve` processes on one PostgreSQL database; the loops use one lrctl.Client with
gRPC's own multi-address target (`ipv4:a,b,c`) and the service config's round_robin policy.
"""
from __future__ import annotations

import statistics
import threading
import time

import pytest

import lrctl
from tests.support.replicas import restart, start_replicas, target

POLICY = {"lr": 0.1, "plateau": {"metric": "loss", "patience": 2, "factor": 0.5}}


class Loop(threading.Thread):
    """A training loop: lr(step) every step (a short lease, so it calls often), a report every
    `every` steps; keeps every call's latency, every decision, and the first error."""

    def __init__(self, client: lrctl.Client, job_id: str, steps: int, every: int = 4, pause: float = 0.004) -> None:
        super().__init__(daemon=True)
        self.job = client.job(job_id, horizon=8)
        self.steps, self.every, self.pause = steps, every, pause
        self.latencies: list[tuple[float, float]] = []  # (start, seconds)
        self.decisions: dict[int, lrctl.Decision] = {}
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            for step in range(self.steps):
                if self.stop.is_set():
                    return
                start = time.monotonic()
                self.job.lr(step)
                if step % self.every == 0:
                    self.decisions[step] = self.job.report(step, loss=1.0 / (1 + step % 17))
                self.latencies.append((start, time.monotonic() - start))
                time.sleep(self.pause)
        except BaseException as error:  # noqa: BLE001 - the test reports it
            self.error = error


def stored_report_steps(client: lrctl.Client, job_id: str) -> list[int]:
    events = client.job(job_id).events(page_size=1000)
    seen = list(events)
    while len(events) == 1000:
        events = client.job(job_id).events(since_version=seen[-1].version, page_size=1000)
        seen += events
    return sorted({e.step for e in seen if e.metrics})


@pytest.fixture
def replicas(postgres_cluster, tmp_path):
    servers = start_replicas(postgres_cluster.create_database(), tmp_path, 3)
    yield servers
    for server in servers:
        server.kill()


def test_sigkill_of_a_replica_is_invisible_to_training_loops(replicas) -> None:
    """Loops report and read LRs through all three replicas; one is SIGKILLed mid-run. No loop
    sees an error or a pending answer, and every acknowledged report is stored."""
    client = lrctl.Client(target(replicas), timeout=5)
    jobs = [f"failover-{n}" for n in range(4)]
    for job_id in jobs:
        client.create_job(job_id, POLICY)
    loops = [Loop(client, job_id, steps=100_000) for job_id in jobs]
    for loop in loops:
        loop.start()
    time.sleep(2.0)
    killed_at = time.monotonic()
    replicas[1].kill()
    time.sleep(3.0)
    for loop in loops:
        loop.stop.set()
        loop.join(30)
    assert [loop.error for loop in loops] == [None] * 4
    assert all(not d.pending for loop in loops for d in loop.decisions.values())
    assert all(loop.job.degraded.outages == 0 for loop in loops)
    for loop in loops:
        assert stored_report_steps(client, loop.job.job_id) == sorted(loop.decisions)
        after = [t for start, t in loop.latencies if start >= killed_at]
        assert len(after) > 20, "the loop went on after the kill"
    around = [t for loop in loops for start, t in loop.latencies if killed_at - 0.5 <= start <= killed_at + 1.0]
    usual = statistics.median(t for loop in loops for _, t in loop.latencies)
    print(f"failover gap: slowest step around the SIGKILL {max(around) * 1000:.1f} ms "
          f"(median step {usual * 1000:.2f} ms)")
    client.close()


def test_an_outage_of_every_replica_is_ridden_out(replicas) -> None:
    """Every replica stops for 30 s mid-training and starts again: the loop finishes, sees no
    error, and the database ends with every report."""
    client = lrctl.Client(target(replicas), timeout=3, outage_tolerance_seconds=120)
    client.create_job("outage", POLICY)
    loop = Loop(client, "outage", steps=1500, every=5, pause=0.02)
    loop.start()
    time.sleep(3.0)
    for replica in replicas:
        replica.kill()
    stopped_at = time.monotonic()
    time.sleep(30.0)
    restarted = [restart(replica) for replica in replicas]
    replicas[:] = restarted
    loop.join(120)
    assert not loop.is_alive() and loop.error is None, loop.error
    loop.job.flush(timeout=60)
    pending = [step for step, d in loop.decisions.items() if d.pending]
    assert pending and loop.job.degraded.queued_reports == len(pending) and loop.job.degraded.held_lr > 0
    assert stored_report_steps(client, "outage") == sorted(loop.decisions) == list(range(0, 1500, 5))
    print(f"outage of every replica for {time.monotonic() - stopped_at:.0f} s: {len(pending)} reports queued and "
          f"re-sent, {loop.job.degraded.held_lr} LRs held")
    client.close()


def handled(replica, method: str = "GetLearningRate") -> float:
    import urllib.request

    text = urllib.request.urlopen(replica.metrics_url, timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("grpc_server_handled_total{") and f'grpc_method="{method}"' in line)


@pytest.mark.parametrize("policy", ["round_robin", "pick_first"])
def test_either_policy_fails_over_replica_after_replica(replicas, policy: str) -> None:
    """Two of the three replicas are SIGKILLed one after the other: the loop goes on through
    whichever is left. round_robin spreads the calls over all three before."""
    client = lrctl.Client(target(replicas), timeout=5, load_balancing=policy, outage_tolerance_seconds=0)
    client.create_job("both", POLICY)
    loop = Loop(client, "both", steps=100_000)
    loop.start()
    time.sleep(1.5)
    if policy == "round_robin":
        assert all(handled(replica) > 0 for replica in replicas)
    for victim in replicas[:2]:
        victim.kill()
        time.sleep(1.5)
    loop.stop.set()
    loop.join(30)
    assert loop.error is None, loop.error
    assert stored_report_steps(client, "both") == sorted(loop.decisions)
    client.close()


def test_a_dns_target_reaches_a_replica(replicas) -> None:
    port = replicas[0].address.rsplit(":", 1)[1]
    with lrctl.Client(f"dns:///localhost:{port}", timeout=5) as client:
        client.create_job("by-name", POLICY)
        assert client.job("by-name").lr(0) == pytest.approx(0.1)
