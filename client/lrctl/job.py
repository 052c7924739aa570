"""A handle on one job: its LR (served from a lease), reports, overrides, events, and its
optimizer on the server (upload parameters, step with gradients, pull)."""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, TypeVar

import numpy as np

from lrctl.protocol import chunk_messages, wire
from lrctl.channel import retried
from lrctl.errors import LrctlError, NotFound, Unavailable
from lrctl.events import Decision, Event
from lrctl.lease import Lease
from lrctl.notices import warn_skipped_step, warn_unused_metrics
from lrctl.outage import OUTAGE_ERRORS, OutageGuard
from lrctl.policy import to_policy
from lrctl.step_result import StepResult
from lrctl.protocol.codes import REPLY_MODES, dtype_code
from lrctl.tensors import Assembler, check_tensors, to_chunks
from lrctl.transport import Transport
from lrctl.v1 import controller_pb2, optimizer_pb2, policy_pb2

T = TypeVar("T")

DEFAULT_HORIZON = 1000
FOLLOW_FIRST_BACKOFF = 0.1
FOLLOW_MAX_BACKOFF = 5.0

class Pulled(NamedTuple):
    """The server's parameters and the step it expects next: `step, params = job.pull()`."""

    step: int
    params: dict[str, np.ndarray]


class Job:
    """Operations on one job over `transport`. `lr(step)` costs one RPC per `horizon` steps
    while nothing changes.

    The lease is dropped whenever this handle learns of a new job version: from its own
    report, override or policy update, or — for ranks that never report — from the
    WatchJob stream that `follow()` starts. A deleted job's lease is dropped at the next
    contact with the server (any call answered NOT_FOUND, or the end of `follow()`'s
    watch); until then `lr()` keeps answering from the lease, without a call.

    `token` is the job's bearer token on handles from create_job and import_job (None on
    others); it grants this job's calls only: `lrctl.Client(target, token=job.token)`.
    `created` is True when the call that made this handle created the job.

    While no server answers, `lr()` and `report()` keep the loop going for the client's
    `outage_tolerance_seconds` (lrctl.outage): LRs from the lease, then the last known LR;
    reports queued, answered `pending`, and re-sent in order; `degraded` counts both, and
    `flush()` waits for the queue.

    The data-plane calls (init_params, step, pull, pull_rows, export) go to the replica that
    holds the job's arrays, however the client's target spreads the other calls: a replica
    that does not answers with that one's address, which the transport follows. While that
    replica is down they raise Unavailable naming it.
    """

    def __init__(self, transport: Transport, job_id: str, horizon: int = DEFAULT_HORIZON, *,
                 token: str | None = None, created: bool = False) -> None:
        self.transport = transport
        self.job_id = job_id
        self.token = token
        self.created = created
        self.horizon = horizon
        self._lease: Lease | None = None
        self._follower: threading.Thread | None = None
        self.rpc_count = 0
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._warned_unused: set[str] = set()
        self._last_lr: float | None = None
        self._last_should_stop = False
        self._outage = OutageGuard(job_id, transport.outage_tolerance, self._resend_report, self._refresh_lease)
        self.degraded = self._outage.degraded

    def __repr__(self) -> str:
        return f"Job({self.job_id!r})"

    # ---- the learning rate ----------------------------------------------------------
    def lr(self, step: int) -> float:
        """The LR for `step`: what torch's equivalent scheduler gives after `step` calls of step()."""
        lease = self._lease
        if lease is not None:
            lr = lease.get(step)
            if lr is not None:
                self._last_lr = lr
                return lr
        if self._outage.ongoing:
            return self._outage.hold_lr(step, self._last_lr)
        try:
            return self._refresh_lease(step)
        except OUTAGE_ERRORS as error:
            return self._outage.hold_lr(step, self._last_lr, error)

    def _refresh_lease(self, step: int) -> float:
        reply = self._call("GetLearningRate", controller_pb2.GetLearningRateRequest(
            job_id=self.job_id, step=step, horizon=self.horizon))
        self.rpc_count += 1
        self._lease = Lease(step, list(reply.lrs), reply.version)
        self._last_lr = reply.lr
        return reply.lr

    def lease(self, step: int, horizon: int) -> controller_pb2.GetLearningRateResponse:
        """The raw GetLearningRate answer (LRs for [step, step + horizon) and the version)."""
        return self._call("GetLearningRate", controller_pb2.GetLearningRateRequest(
            job_id=self.job_id, step=step, horizon=horizon))

    def invalidate(self, version: int | None = None) -> None:
        """Drops the lease (only if it is older than `version`, when given)."""
        lease = self._lease
        if lease is not None and (version is None or version != lease.version):
            self._lease = None

    def _call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        return self._contact(lambda: self.transport.call(method, request, timeout))

    def _contact(self, call: Callable[[], T]) -> T:
        """`call()`; a NOT_FOUND answer means the job is gone, so its lease goes too."""
        try:
            return call()
        except NotFound:
            self._lease = None
            raise

    # ---- metrics and decisions --------------------------------------------------------
    def report(self, step: int, metrics: Mapping[str, float] | None = None, **named: float) -> Decision:
        """One ReduceLROnPlateau.step(x) (and early-stopping check) at `step`; retried safely.

        A metric the job's policy does not read is stored but changes nothing: the decision
        lists it in `unused_metrics`, and this handle warns once per such name
        (lrctl.UnusedMetricWarning).

        While no server answers, the report is queued and the answer is `pending` (the last
        known LR; see the class docstring); an error a server later gives a queued report is
        raised by the next report() or flush()."""
        values = {**(metrics or {}), **named}
        self._outage.raise_refused()
        failure = None
        with self._outage.sending:
            if not self._outage.queued():
                try:
                    decision = self._send_report(step, values)
                except OUTAGE_ERRORS as error:
                    failure = error
                else:
                    warn_unused_metrics(self.job_id, self._unused_to_warn(decision))
                    return decision
            self._outage.queue_report(step, values, failure)
        lease = self._lease
        return Decision(self._last_lr if self._last_lr is not None else 0.0, self._last_should_stop,
                        lease.version if lease is not None else 0, (), (), pending=True)

    def _send_report(self, step: int, values: Mapping[str, float]) -> Decision:
        reply = self._call("ReportMetrics", controller_pb2.ReportMetricsRequest(
            job_id=self.job_id, step=step, metrics=values))
        self.invalidate(reply.version)
        self._last_lr, self._last_should_stop = reply.lr, reply.should_stop
        return Decision.from_proto(reply)

    def _resend_report(self, step: int, values: Mapping[str, float]) -> Decision:
        decision = self._send_report(step, values)
        warn_unused_metrics(self.job_id, self._unused_to_warn(decision))
        return decision

    def _unused_to_warn(self, decision: Decision) -> list[str]:
        """The decision's unused metrics this handle has not warned about yet (now it has)."""
        fresh = [name for name in decision.unused_metrics if name not in self._warned_unused]
        self._warned_unused.update(fresh)
        return fresh

    def flush(self, timeout: float | None = None) -> None:
        """Waits until every report queued during an outage has reached a server (at most
        `timeout` seconds, and no longer than the outage tolerance allows: then Unavailable)."""
        self._outage.flush(timeout)

    # ---- operator actions -------------------------------------------------------------
    def override(self, *, lr: float | None = None, scale: float | None = None, until_step: int = 0,
                 reason: str = "") -> controller_pb2.Job:
        """Pins (`lr`) or scales (`scale`) the LR for steps < until_step (0: until cleared)."""
        if (lr is None) == (scale is None):
            raise ValueError("give exactly one of lr or scale")
        override = controller_pb2.Override(until_step=until_step, reason=reason)
        if lr is not None:
            override.lr = lr
        else:
            override.scale = scale
        job = self._call("SetOverride", controller_pb2.SetOverrideRequest(
            job_id=self.job_id, override=override))
        self.invalidate(job.version)
        return job

    def clear_override(self, reason: str = "") -> controller_pb2.Job:
        job = self._call("ClearOverride", controller_pb2.ClearOverrideRequest(
            job_id=self.job_id, reason=reason))
        self.invalidate(job.version)
        return job

    def update_policy(self, policy: Mapping[str, Any] | policy_pb2.Policy, *, reason: str = "",
                      expected_policy_version: int = 0) -> controller_pb2.Job:
        job = self._call("UpdatePolicy", controller_pb2.UpdatePolicyRequest(
            job_id=self.job_id, policy=to_policy(policy), reason=reason,
            expected_policy_version=expected_policy_version))
        self.invalidate(job.version)
        return job

    # ---- inspection -------------------------------------------------------------------
    def info(self) -> controller_pb2.Job:
        return self._call("GetJob", controller_pb2.GetJobRequest(job_id=self.job_id))

    def events(self, since_version: int = 0, page_size: int = 1000) -> list[Event]:
        """Every stored event after `since_version`, oldest first, fetched `page_size` at a
        time (a page also ends at the server's byte budget: an empty page is the end)."""
        events: list[Event] = []
        while True:
            reply = self._call("ListJobEvents", controller_pb2.ListJobEventsRequest(
                job_id=self.job_id, since_version=since_version, page_size=page_size))
            if not reply.events:
                return events
            events.extend(Event.from_proto(e) for e in reply.events)
            since_version = events[-1].version

    def watch(self, since_version: int = 0, timeout: float | None = None) -> Iterator[Event]:
        """Stored events after `since_version`, then live ones, until the job is deleted
        (then the lease goes too) or the client is closed."""
        events = self.transport.stream("WatchJob", controller_pb2.WatchJobRequest(
            job_id=self.job_id, since_version=since_version), timeout, end_on_cancel=True)
        try:
            for event in events:
                self.invalidate(event.version)
                yield Event.from_proto(event)
        except NotFound:
            self._lease = None
            raise
        self._lease = None

    def follow(self) -> None:
        """Keeps the lease fresh from a background WatchJob stream (for ranks that never report).

        The stream ends UNAVAILABLE when its connection goes (server restart or shutdown, an
        aged connection): the follower watches again from the last version it saw, so no
        event is missed, backing off up to FOLLOW_MAX_BACKOFF seconds while the server is away.
        It ends with the job (deleted) or the client (closed).
        """
        if self._follower is not None:
            return
        start = self._lease.version if self._lease else 0

        def run() -> None:
            version, backoff = start, FOLLOW_FIRST_BACKOFF
            while True:
                try:
                    for event in self.watch(since_version=version):
                        version, backoff = event.version, FOLLOW_FIRST_BACKOFF
                    return
                except NotFound:
                    return
                except Unavailable:
                    time.sleep(backoff)
                    backoff = min(backoff * 2, FOLLOW_MAX_BACKOFF)

        self._follower = threading.Thread(target=run, name=f"lrctl-follow-{self.job_id}", daemon=True)
        self._follower.start()

    # ---- the optimizer on the server ----------------------------------------------------
    def init_params(self, params: Mapping[str, Any], *, wire_dtype: str = "float32",
                    chunk_bytes: int = wire.DEFAULT_CHUNK_BYTES, timeout: float | None = None) -> int:
        """Uploads the initial parameters ({name: array}, in a fixed order) and resets the
        optimizer state; allowed until the first step. Returns the number of elements."""
        check_tensors(params, {})
        self._shapes = {name: np.shape(value) for name, value in params.items()}

        def requests() -> Iterator[optimizer_pb2.UploadParametersRequest | bytes]:
            yield optimizer_pb2.UploadParametersRequest(header=optimizer_pb2.UploadHeader(job_id=self.job_id))
            for chunk in to_chunks(params, wire_dtype, chunk_bytes, self._shapes):
                yield chunk_messages.encode(chunk)

        return self._data_plane(lambda transport: transport.call("UploadParameters", requests(), timeout)).elements

    def step(self, step: int, grads: Mapping[str, Any], *, rank: int = 0, reply: str = "all",
             wire_dtype: str = "float32", chunk_bytes: int = wire.DEFAULT_CHUNK_BYTES,
             timeout: float | None = None) -> StepResult:
        """Sends the gradients of `step` ({name: array}, or {name: lrctl.Rows} for rows of 2-D
        tensors; a tensor left out does not change) and returns a StepResult whose `params`
        are the updated parameters: all, only what the step changed (`reply="touched"`: its
        dense tensors, and Rows of the touched rows), or None (`reply="none"`).

        Exactly once: retrying a step that was applied returns the current parameters and
        applies nothing (`result.duplicate`). A gradient holding NaN/inf is skipped by the
        server (`result.skipped_nonfinite`, and a lrctl.NonFiniteGradientWarning). A step the
        server does not expect raises FailedPrecondition with `.server_step`.

        Data-parallel jobs (`workers` > 1 in the optimizer spec): `rank` is this worker's rank.
        The call returns once every rank's gradient for `step` has arrived and the reduced step
        was applied; every rank gets the same result. A call still waiting near its deadline is
        answered UNAVAILABLE with its gradient kept, and retried here (the retry is answered
        `duplicate`: its gradient was counted once). A step whose ranks did not all arrive
        within the job's step_timeout_seconds raises Aborted naming the missing ranks."""
        if reply not in REPLY_MODES:
            raise ValueError(f"reply must be one of {', '.join(REPLY_MODES)}, not {reply!r}")
        check_tensors(grads, self._shapes)
        header = optimizer_pb2.StepHeader(job_id=self.job_id, step=step, reply_mode=REPLY_MODES[reply],
                                          reply_dtype=dtype_code(wire_dtype), reply_chunk_bytes=chunk_bytes,
                                          rank=rank)

        def requests() -> Iterator[optimizer_pb2.StepRequest | bytes]:
            yield optimizer_pb2.StepRequest(header=header)
            for chunk in to_chunks(grads, wire_dtype, chunk_bytes, self._shapes):
                yield chunk_messages.encode(chunk)

        def attempt(transport: Transport) -> tuple[optimizer_pb2.StepResult | None, Assembler]:
            assembler, result = Assembler(), None
            for message in transport.stream("Step", requests(), timeout or transport.timeout):
                if message.HasField("result"):
                    result = message.result
                else:
                    assembler.add(message.chunk)
            return result, assembler

        result, assembler = self._data_plane(attempt)
        if result is None:
            raise LrctlError(f"the server answered step {step} of job {self.job_id!r} without its result")
        self._shapes.update(assembler.shapes)
        if result.skipped_nonfinite:
            warn_skipped_step(self.job_id, step)
        return StepResult.from_proto(result, None if reply == "none" else assembler.tensors())

    def pull(self, names: Iterable[str] | None = None, *, wire_dtype: str = "float32",
             chunk_bytes: int = wire.DEFAULT_CHUNK_BYTES, timeout: float | None = None) -> Pulled:
        """The server's current parameters (all, or the tensors `names` names) and the step it
        expects next (to resync after a server restart: the parameters are those of its last
        snapshot; the other ranks of a data-parallel job start from rank 0's upload this way)."""
        request = optimizer_pb2.PullParametersRequest(job_id=self.job_id, dtype=dtype_code(wire_dtype),
                                                      chunk_bytes=chunk_bytes, names=list(names or ()))
        step, assembler = self._pulled("PullParameters", request, timeout)
        return Pulled(step, assembler.tensors())

    def pull_rows(self, name: str, rows: Any, *, wire_dtype: str = "float32",
                  chunk_bytes: int = wire.DEFAULT_CHUNK_BYTES, timeout: float | None = None) -> Pulled:
        """The current values of rows `rows` (int64 ids, repeats allowed) of the 2-D tensor
        `name`, in that order: `step, found = job.pull_rows(name, ids)`, `found[name]` a
        (len(rows), columns) array. An embedding lookup before the forward pass; `step` is the
        step the server expects next."""
        ids = np.ascontiguousarray(rows, dtype="<i8").reshape(-1)
        request = optimizer_pb2.PullRowsRequest(job_id=self.job_id, name=name, rows=ids.tobytes(),
                                                dtype=dtype_code(wire_dtype), chunk_bytes=chunk_bytes)
        step, assembler = self._pulled("PullRows", request, timeout)
        found = assembler.tensors().get(name)
        if found is None:
            shape = self._shapes.get(name, ())
            return Pulled(step, {name: np.empty((0, shape[1] if len(shape) == 2 else 0), np.float32)})
        return Pulled(step, {name: found.values})

    def _pulled(self, method: str, request: Any, timeout: float | None) -> tuple[int, Assembler]:
        """A pull-like call (a header with the server's step, then chunks), retried safely."""
        def attempt(transport: Transport) -> tuple[int, Assembler]:
            assembler, step = Assembler(), 0
            for message in transport.stream(method, request, timeout or transport.timeout):
                if message.HasField("header"):
                    step = message.header.server_step
                else:
                    assembler.add(message.chunk)
            return step, assembler

        step, assembler = self._data_plane(attempt)
        self._shapes.update(assembler.shapes)
        return step, assembler

    def export(self, path: str | os.PathLike[str], *, chunk_bytes: int = wire.DEFAULT_CHUNK_BYTES,
               timeout: float | None = None) -> int:
        """Writes the whole job (spec, policy state, parameters, optimizer state, step) to
        `path` as one portable file (an .npz with JSON metadata); returns its size in bytes."""
        request = optimizer_pb2.ExportJobRequest(job_id=self.job_id, chunk_bytes=chunk_bytes)

        def attempt(transport: Transport) -> int:
            size = 0
            with open(path, "wb") as file:
                for message in transport.stream("ExportJob", request, timeout or transport.timeout):
                    size += file.write(message.data)
            return size

        return self._data_plane(attempt)

    def _data_plane(self, attempt: Callable[[Transport], T]) -> T:
        """A data-plane call, retried safely (channel.retried) on the replica that holds the
        job's arrays (Transport.follow: another replica's answer names it)."""
        return self._contact(lambda: self.transport.follow(
            self.job_id, lambda transport: retried(lambda: attempt(transport))))

