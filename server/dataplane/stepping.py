"""The exactly-once, data-parallel step: each rank's gradient is received on its own, collected
until every rank of the step has sent one, reduced in rank order and applied once.

For a call of rank r for step t, with the job at step n (its next step):
- t == n: the gradient is decoded into rank r's buffer without the job's lock, then
  contributed to step t's collector. The contribution that completes it applies the step;
  every call then gets the same outcome. A second gradient of rank r for a step it already
  sent waits for the same outcome and is answered `duplicate` (the first one counts).
- t == n - 1: a retry of the step just applied; nothing is applied, the call gets its result
  (`duplicate`) and the current parameters.
- anything else, or r outside [0, workers): refused at once.
A step whose snapshot commit finds the job held by another replica now (ownership.py) is
refused for every rank with that owner: nothing this replica applied is acknowledged.
A collector that does not fill within the job's step timeout is aborted (`expire_overdue`):
every waiting call is answered ABORTED naming the missing ranks, and the step may be sent
again. A call whose client goes away withdraws its contribution; one that is ended by its own
deadline keeps it counted (`keep`), since its client retries. Everything here blocks on the
job's lock and runs off the event loop; waiting for a collector does not (see the service).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from lrctl.server import optim
from lrctl.server.backends import host_copy
from lrctl.server.dataplane import reduce, replies
from lrctl.server.dataplane.arrays import JobArrays
from lrctl.protocol.chunks import Chunk
from lrctl.server.dataplane.chunks import StepAssembler
from lrctl.server.dataplane.collect import Contribution, StepCollector, StepOutcome, StepResult
from lrctl.server.dataplane.replies import ReplyOptions
from lrctl.server.dataplane.slots import GradientBuffer, Slot
from lrctl.server.errors import Aborted, FailedPrecondition, FieldViolation, InvalidArgument, LrctlError
from lrctl.server.jobs import JobView

if TYPE_CHECKING:
    from lrctl.server.dataplane.registry import DataPlane

log = logging.getLogger(__name__)


class StepInput:
    """One Step call: its gradient as it arrives (decoded into a buffer of its own), then what
    became of it."""

    def __init__(self, view: JobView, slot: Slot, arrays: JobArrays, step: int, rank: int,
                 options: ReplyOptions, buffer: GradientBuffer, plane: "DataPlane") -> None:
        self.view, self.slot, self.arrays, self.step, self.rank, self.options = view, slot, arrays, step, rank, options
        self.buffer = buffer
        self._assembler = StepAssembler(arrays.layout, buffer.host, plane.limits)
        self.collector: StepCollector | None = None
        self.contribution: Contribution | None = None
        self.duplicate = False

    def add(self, chunk: Chunk) -> None:
        """Decodes and checks one chunk (INVALID_ARGUMENT for a bad one; nothing is applied)."""
        self._assembler.add(chunk)

    def finished(self) -> Contribution:
        """The whole gradient, refused unless every dense tensor was covered exactly once."""
        dense, rows = self._assembler.finish()
        return Contribution(self.rank, self.buffer, dense, rows, self._assembler.received_bytes, self.options)


@dataclass(frozen=True)
class Contributed:
    """What contributing a step gave: the outcome now (the step was applied, or it was a retry),
    or the collector to wait on."""

    outcome: StepOutcome | None
    collector: StepCollector | None


class Stepping:
    """The step machinery of one DataPlane (its slots, budget, backend, LRs and snapshots)."""

    def __init__(self, plane: "DataPlane") -> None:
        self._plane = plane
        self._pending_lock = threading.Lock()
        self._pending: dict[int, tuple[Slot, StepCollector]] = {}

    # ---- receiving ----------------------------------------------------------------------
    def begin(self, job_id: str, step: int, rank: int, options: ReplyOptions) -> StepInput:
        """Starts receiving rank `rank`'s step `step`: refused at once unless it can be applied or
        is a retry of the last one; otherwise a gradient buffer is taken (or claimed) for it."""
        plane = self._plane
        view, slot = plane._job(job_id)
        workers = view.spec.workers.count
        if rank >= workers:
            raise InvalidArgument(FieldViolation("header.rank", f"must be in [0, {workers}): job {job_id!r} has "
                                                                f"{workers} worker{'s' if workers > 1 else ''}"))
        with slot.lock:
            arrays = plane._arrays(view, slot)
            self._check_step(job_id, step, arrays)
            buffer = self._buffer(view, slot, arrays, rank)
        if buffer is None:
            buffer = self._extra_buffer(job_id, arrays)
        return StepInput(view, slot, arrays, step, rank, options, buffer, plane)

    def _buffer(self, view: JobView, slot: Slot, arrays: JobArrays, rank: int) -> GradientBuffer | None:
        """The rank's own buffer, if free (call with slot.lock held)."""
        workers = view.spec.workers.count
        if workers == 1:
            return slot.take_buffer()
        slot.rank_rows(workers, self._plane._budget.claim(view.job_id))
        return slot.take_rank_row(rank)

    def _extra_buffer(self, job_id: str, arrays: JobArrays) -> GradientBuffer:
        """A gradient buffer beyond the job's own (another call of the same rank is arriving too),
        claimed from the memory budget."""
        backend = self._plane._backend
        claim = self._plane._budget.claim(job_id)
        claim.grow_to(arrays.grads.nbytes)
        device = backend.xp.empty(arrays.layout.size, dtype=np.float32)
        return GradientBuffer(backend.memory.host_buffer(device), device, claim)

    @staticmethod
    def _check_step(job_id: str, step: int, arrays: JobArrays) -> bool:
        """True for a retry of the step just applied; refuses any step but that one and the next."""
        duplicate = step + 1 == arrays.next_step
        if step != arrays.next_step and not duplicate:
            raise FailedPrecondition(f"job {job_id!r} expects step {arrays.next_step}, not {step}",
                                     server_step=arrays.next_step, requested_step=step)
        return duplicate

    # ---- contributing -------------------------------------------------------------------
    def contribute(self, step_input: StepInput) -> Contributed:
        """Hands the received gradient to its step: applies the step when this completes it."""
        plane, view, slot, step = self._plane, step_input.view, step_input.slot, step_input.step
        contribution = step_input.finished()
        with slot.lock:
            plane._check_live(view, slot)
            arrays = slot.arrays
            if arrays is not step_input.arrays:
                raise Aborted(f"job {view.job_id!r}: its parameters were replaced while this step arrived; step again")
            if self._check_step(view.job_id, step, arrays):
                step_input.duplicate = True
                return Contributed(self._retry_outcome(view, arrays, contribution), None)
            collector = slot.pending
            if collector is None:
                workers = view.spec.workers
                collector = slot.pending = StepCollector.open(step, workers.count, workers.step_timeout_seconds)
                with self._pending_lock:
                    self._pending[id(collector)] = (slot, collector)
            step_input.collector = collector
            if contribution.rank in collector.contributions:
                step_input.duplicate = True  # the rank's first gradient counts; this one waits for its answer
                return Contributed(None, collector)
            self._check_kinds(collector, contribution)
            collector.contributions[contribution.rank] = contribution
            step_input.contribution = contribution
            if collector.complete:
                self._finish(view, slot, arrays, collector)
        return Contributed(None, collector)

    @staticmethod
    def _check_kinds(collector: StepCollector, contribution: Contribution) -> None:
        """Refuses a tensor sent dense by one rank and as rows by another."""
        for other in collector.contributions.values():
            both = (set(other.dense) & contribution.rows.keys()) | (set(contribution.dense) & other.rows.keys())
            if both:
                name = sorted(both)[0]
                raise InvalidArgument(FieldViolation(
                    f"chunks[{name}].rows", f"{name} came dense from one rank and as rows from another: every rank "
                                            "sends a tensor the same way"))

    def _finish(self, view: JobView, slot: Slot, arrays: JobArrays, collector: StepCollector) -> None:
        """Applies a complete step (call with slot.lock held) and answers every call of it; a
        step refused by the optimizer (a non-finite gradient, "reject") is refused for all."""
        slot.pending = None
        self._forget_pending(collector)
        try:
            outcome = self._apply(view, slot, arrays, collector)
        except LrctlError as error:
            collector.done.set_exception(error)
        else:
            collector.done.set_result(outcome)
        finally:
            self._release(slot, arrays, collector)

    def _apply(self, view: JobView, slot: Slot, arrays: JobArrays, collector: StepCollector) -> StepOutcome:
        plane = self._plane
        contributions = collector.in_rank_order()
        dense, rows, device = self._reduced(view, slot, arrays, contributions)
        lr = float(plane._jobs.learning_rates(view.job_id, collector.step, 1)[0][0])
        config, backend, layout = view.spec.optimizer, plane._backend, arrays.layout
        started = time.perf_counter()
        state = optim.update_tensors(config, arrays.params, device, arrays.state, lr, backend=backend,
                                     layout=layout, dense=dense, rows=rows)
        seconds = time.perf_counter() - started
        skipped = state.skipped_nonfinite > arrays.state.skipped_nonfinite
        arrays.state, arrays.next_step, arrays.last_skipped = state, arrays.next_step + 1, skipped
        if skipped:
            plane._metrics.count_event(view.job_id, "nonfinite_gradient")
        else:
            plane._metrics.observe_optimizer_step(view.job_id, optim.ALGORITHMS.name_of(config.algorithm), seconds,
                                                  layout.size)
        plane._metrics.count_transfer(received_bytes=sum(c.received_bytes for c in contributions))
        every = view.spec.snapshot_every_steps
        if every and arrays.next_step - slot.snapshot_step >= every:
            plane._snapshot(view, slot, arrays)
        result = StepResult(collector.step, lr, skipped, arrays.next_step, False)
        wanted = any(c.options.mode != "none" for c in contributions)
        return StepOutcome(result, host_copy(backend.memory, arrays.params) if wanted else None, tuple(dense),
                           {name: np.unique(g.rows) for name, g in rows.items()})

    def _reduced(self, view: JobView, slot: Slot, arrays: JobArrays,
                 contributions: list[Contribution]) -> tuple[list[str], dict[str, optim.RowGradient], object]:
        """The step's gradient: dense tensor names, row gradients, and the device buffer holding
        the dense part. One worker's gradient is the step's as it is; several are reduced in
        rank order into the job's own gradient buffer."""
        memory = self._plane._backend.memory
        if len(contributions) == 1:
            only = contributions[0]
            if only.dense:
                memory.copy_in(only.buffer.device, only.buffer.host)
            return only.dense, only.rows, only.buffer.device
        workers, mean = view.spec.workers.count, view.spec.workers.reduction == "mean"
        layout = arrays.layout
        dense = [span.name for span in layout.spans if any(span.name in c.dense for c in contributions)]
        if dense:
            stack = slot.ranks
            spans = [(layout.span(name).offset, layout.span(name).stop) for name in dense]
            for contribution in contributions:
                row = stack[contribution.rank]
                if contribution.buffer.rank_row is None:
                    row[...] = contribution.buffer.host  # decoded into an extra buffer: take it into its row
                for name in dense:
                    if name not in contribution.dense:
                        span = layout.span(name)
                        row[span.offset:span.stop] = 0.0  # a tensor this rank left out adds nothing
            reduce.reduce_dense(stack, spans, arrays.host_grads, mean)
            memory.copy_in(arrays.grads, arrays.host_grads)
        names = sorted({name for c in contributions for name in c.rows})
        rows = {name: reduce.reduce_rows([c.rows[name] for c in contributions if name in c.rows], workers, mean)
                for name in names}
        return dense, rows, arrays.grads

    def _retry_outcome(self, view: JobView, arrays: JobArrays, contribution: Contribution) -> StepOutcome:
        """The answer to a retry of the step just applied (call with slot.lock held): its result,
        and the current parameters; "touched" sends what this call's own gradient names."""
        plane = self._plane
        lr = float(plane._jobs.learning_rates(view.job_id, arrays.next_step - 1, 1)[0][0])
        result = StepResult(arrays.next_step - 1, lr, arrays.last_skipped, arrays.next_step, True)
        picture = host_copy(plane._backend.memory, arrays.params) if contribution.options.mode != "none" else None
        return StepOutcome(result, picture, tuple(contribution.dense),
                           {name: np.unique(g.rows) for name, g in contribution.rows.items()})

    # ---- answering ----------------------------------------------------------------------
    def answer(self, step_input: StepInput, outcome: StepOutcome) -> tuple[StepResult, Iterator[Chunk]]:
        """The call's result and reply chunks (encoded as they are sent) from its step's outcome."""
        result = replace(outcome.result, duplicate=True) if step_input.duplicate else outcome.result
        options = step_input.options
        if options.mode == "none":
            return result, iter(())
        picture = outcome.picture
        if picture is None:  # no contributor asked for parameters; this duplicate does
            with step_input.slot.lock:
                picture = host_copy(self._plane._backend.memory, step_input.arrays.params)
        layout = step_input.arrays.layout
        if options.mode == "all":
            chunks: Iterable[Chunk] = replies.dense_chunks(layout, picture, options)
        else:
            chunks = [*replies.dense_chunks(layout, picture, options, names=set(outcome.dense)),
                      *replies.row_chunks(layout, picture, outcome.touched_rows, options)]
        return result, self._plane._counted(chunks)

    # ---- calls that end without an answer -------------------------------------------------
    def keep(self, step_input: StepInput) -> list[int]:
        """The call is ending by its own deadline while its step waits for other ranks: its
        gradient keeps counting until the step completes or times out (its client will retry).
        Returns the ranks still missing."""
        with step_input.slot.lock:
            if step_input.contribution is not None:
                step_input.contribution.kept = True
            collector = step_input.collector
            return collector.missing() if collector is not None else []

    def end(self, step_input: StepInput) -> None:
        """Called when the call ends, however: a contribution still waiting whose client is gone
        is withdrawn, and the call's buffer goes back unless its contribution holds it."""
        slot = step_input.slot
        with slot.lock:
            contribution, collector = step_input.contribution, step_input.collector
            if contribution is None:
                slot.give_back(step_input.buffer, step_input.arrays)
                return
            if collector.done.done() or contribution.kept:
                return  # released with its step (applied, aborted, or kept counting)
            del collector.contributions[contribution.rank]
            slot.give_back(contribution.buffer, step_input.arrays)
            if not collector.contributions and slot.pending is collector:
                self._abort(slot, collector, "every rank that sent it went away")

    def expire_overdue(self) -> int:
        """Aborts every step whose ranks did not all arrive within its timeout, whether or not a
        call still waits for it; returns how many."""
        with self._pending_lock:
            overdue = [(slot, collector) for slot, collector in self._pending.values()
                       if collector.seconds_left() == 0]
        for slot, collector in overdue:
            self.expire(slot, collector)
        return len(overdue)

    def expire(self, slot: Slot, collector: StepCollector) -> None:
        """Aborts `collector` if its step is still incomplete past its deadline."""
        with slot.lock:
            if slot.pending is collector and not collector.done.done() and collector.seconds_left() == 0:
                missing = collector.missing()
                self._abort(slot, collector, f"no gradient from rank{'s' if len(missing) > 1 else ''} "
                                             f"{', '.join(map(str, missing))} within {collector.timeout_seconds:g} s "
                                             "(the job's step_timeout_seconds)")

    def _abort(self, slot: Slot, collector: StepCollector, why: str) -> None:
        """Drops an incomplete step (call with slot.lock held): its calls are answered ABORTED."""
        slot.pending = None
        self._forget_pending(collector)
        collector.done.set_exception(Aborted(f"step {collector.step} aborted: {why}; nothing applied, send the "
                                             "step again"))
        self._release(slot, slot.arrays, collector)

    def _release(self, slot: Slot, arrays: JobArrays | None, collector: StepCollector) -> None:
        for contribution in collector.contributions.values():
            slot.give_back(contribution.buffer, arrays)

    def _forget_pending(self, collector: StepCollector) -> None:
        with self._pending_lock:
            self._pending.pop(id(collector), None)
