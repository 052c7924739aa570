"""The data plane of one server: every job's arrays, their lock, and the exactly-once step.

A step runs entirely under its job's lock: check the step number, decode and check every
chunk into the gradient buffer, run the optimizer (which itself refuses or skips a
non-finite gradient before writing), advance the step, snapshot when due, and encode the
reply. Anything refused before the optimizer writes changes nothing. The learning rate of
step t is the control plane's LR for step t (JobRegistry.learning_rates).

Arrays load lazily from the job's snapshot on first use, like the control plane's jobs.
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from lrctl.server import metrics, optim, policies
from lrctl.server.backends import Backend, host_copy
from lrctl.server.dataplane import export_file, replies
from lrctl.server.dataplane.arrays import JobArrays
from lrctl.server.dataplane.chunks import Chunk, StepAssembler, UploadAssembler
from lrctl.server.dataplane.limits import IMPORT_METADATA_BYTES, Claim, DataPlaneLimits, StateBudget, job_bytes
from lrctl.server.dataplane.replies import ReplyOptions
from lrctl.server.dataplane.snapshots import SnapshotStore
from lrctl.server.errors import FailedPrecondition, FieldViolation, InvalidArgument, LrctlError, ResourceExhausted
from lrctl.server.jobs import JobRegistry, JobView, check_job_id
from lrctl.server.store.failures import storage_error

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    """What a step did; `server_step` is the step the server expects next."""

    step: int
    lr: float
    skipped_nonfinite: bool
    server_step: int
    duplicate: bool


@dataclass(frozen=True)
class ParametersInfo:
    """A job's step counters: next expected step, applied steps (bias corrections), skipped ones."""

    server_step: int
    applied_steps: int
    skipped_nonfinite: int
    elements: int


class _Slot:
    """A job's arrays (None until uploaded or restored) and the lock every step takes."""

    __slots__ = ("lock", "arrays", "loaded", "snapshot_step")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrays: JobArrays | None = None
        self.loaded = False
        self.snapshot_step = -1


class DataPlane:
    """Every job's data-plane arrays on one backend (chosen once, at start), keyed by job id.

    The control plane stays the source of truth for a job's existence, spec and LR: arrays
    are refused for a job without an optimizer, and a deleted job's arrays and snapshot go
    with it (JobRegistry.on_delete).
    """

    def __init__(self, jobs: JobRegistry, backend: Backend, snapshots: SnapshotStore,
                 limits: DataPlaneLimits = DataPlaneLimits()) -> None:
        self._jobs = jobs
        self._backend = backend
        self._snapshots = snapshots
        self.limits = limits
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._budget = StateBudget(limits.max_optimizer_state_bytes,
                                   lambda held: metrics.set_device_memory(backend.device, held))
        jobs.on_delete(self.forget)

    # ---- jobs and their arrays --------------------------------------------------------
    def _view(self, job_id: str) -> JobView:
        view = self._jobs.get(job_id)
        if view.spec.optimizer is None:
            raise FailedPrecondition(f"job {job_id!r} has no optimizer: create it with spec.optimizer to use the "
                                     "data plane")
        return view

    def _slot(self, job_id: str) -> _Slot:
        with self._lock:
            return self._slots.setdefault(job_id, _Slot())

    def _loaded(self, view: JobView, slot: _Slot) -> JobArrays | None:
        """The job's arrays, restored from its snapshot on first use; call with slot.lock held."""
        if not slot.loaded:
            with self._budget.claim(view.job_id) as claim:
                self._set_arrays(slot, self._restore(view, claim), claim)
            slot.loaded = True
            slot.snapshot_step = slot.arrays.next_step if slot.arrays else -1
        return slot.arrays

    def _arrays(self, view: JobView, slot: _Slot) -> JobArrays:
        """Like `_loaded`, but refused before the job's parameters were uploaded."""
        arrays = self._loaded(view, slot)
        if arrays is None:
            raise FailedPrecondition(f"job {view.job_id!r} has no parameters yet: upload them first",
                                     server_step=0)
        return arrays

    def _set_arrays(self, slot: _Slot, arrays: JobArrays | None, claim: Claim | None = None) -> None:
        """Replaces the slot's arrays; `claim` is the budget claim they were allocated under."""
        self._budget.swap(slot.arrays.nbytes if slot.arrays else 0, arrays.nbytes if arrays else 0, claim)
        slot.arrays = arrays

    def _admit(self, claim: Claim, config: optim.OptimizerConfig, elements: int) -> None:
        """Refuses arrays of `elements` parameters over the per-job or total limit, before they
        are allocated; otherwise claims their bytes."""
        self.limits.check_elements(elements)
        claim.grow_to(job_bytes(config, elements))

    def _restore(self, view: JobView, claim: Claim) -> JobArrays | None:
        found = self._snapshots.read(view.job_id)
        if found is None:
            return None
        arrays, meta = found
        if meta.get("job_create_time") != view.create_time:
            log.warning("ignoring the snapshot of an earlier job named %r", view.job_id)
            return None
        self._admit(claim, view.spec.optimizer, JobArrays.archived_elements(arrays))
        restored = JobArrays.from_archive(view.spec.optimizer, arrays, meta, self._backend)
        log.info("job %r: arrays restored from its snapshot at step %d", view.job_id, restored.next_step)
        return restored

    def forget(self, job_id: str) -> None:
        """Drops a deleted job's arrays and snapshot."""
        with self._lock:
            slot = self._slots.pop(job_id, None)
        if slot is not None:
            with slot.lock:
                self._set_arrays(slot, None)
        self._snapshots.delete(job_id)

    # ---- upload and pull --------------------------------------------------------------
    def upload(self, job_id: str, chunks: Iterable[Chunk]) -> ParametersInfo:
        """Sets the job's parameters and fresh optimizer state; refused once a step was handled."""
        view = self._view(job_id)
        slot = self._slot(job_id)
        with slot.lock:
            current = self._loaded(view, slot)
            if current is not None and current.next_step:
                raise FailedPrecondition(f"job {job_id!r} is at step {current.next_step}: parameters can be "
                                         "uploaded only before the first step", server_step=current.next_step)
            with self._budget.claim(job_id, replacing=current.nbytes if current else 0) as claim:
                assembler = UploadAssembler(self.limits,
                                            lambda elements: self._admit(claim, view.spec.optimizer, elements))
                for chunk in chunks:
                    assembler.add(chunk)
                layout = assembler.layout()
                params = np.concatenate([*assembler.tensors.values(), np.empty(0, np.float32)])
                arrays = JobArrays.fresh(view.spec.optimizer, layout, params, self._backend)
                self._snapshot(view, slot, arrays, required=True)
                self._set_arrays(slot, arrays, claim)
            metrics.count_transfer(received_bytes=assembler.received_bytes)
            return self._info(arrays)

    def pull(self, job_id: str, options: ReplyOptions) -> tuple[ParametersInfo, Iterator[Chunk]]:
        """The parameters as of now, with the step counters; chunks are encoded as they are sent."""
        view = self._view(job_id)
        slot = self._slot(job_id)
        with slot.lock:
            arrays = self._arrays(view, slot)
            chunks = replies.dense_chunks(arrays.layout, host_copy(self._backend.memory, arrays.params), options)
            info = self._info(arrays)
        return info, _counted(chunks)

    @staticmethod
    def _info(arrays: JobArrays) -> ParametersInfo:
        return ParametersInfo(arrays.next_step, arrays.state.step, arrays.state.skipped_nonfinite, arrays.layout.size)

    # ---- the step ---------------------------------------------------------------------
    def step(self, job_id: str, step: int, chunks: Iterable[Chunk],
             options: ReplyOptions) -> tuple[StepResult, Iterator[Chunk]]:
        """Applies step `step` exactly once (a retry of the last one applies nothing) and
        returns the result with the parameters `options` asks for."""
        view = self._view(job_id)
        slot = self._slot(job_id)
        with slot.lock:
            arrays = self._arrays(view, slot)
            duplicate = step + 1 == arrays.next_step
            if step != arrays.next_step and not duplicate:
                raise FailedPrecondition(
                    f"job {job_id!r} expects step {arrays.next_step}, not {step}",
                    server_step=arrays.next_step, requested_step=step)
            gradient = self._receive(arrays, chunks)
            lr = float(self._jobs.learning_rates(job_id, step, 1)[0][0])
            if duplicate:
                result = StepResult(step, lr, arrays.last_skipped, arrays.next_step, True)
            else:
                result = self._apply(view, slot, arrays, gradient, lr)
            reply = self._reply(arrays, gradient, options)
        metrics.count_transfer(received_bytes=gradient.received_bytes)
        return result, _counted(reply)

    def _receive(self, arrays: JobArrays, chunks: Iterable[Chunk]) -> "_Gradient":
        """Decodes and checks every chunk: dense ones into the host side of the gradient buffer,
        rows per tensor."""
        assembler = StepAssembler(arrays.layout, arrays.host_grads, self.limits)
        for chunk in chunks:
            assembler.add(chunk)
        dense, rows = assembler.finish()
        return _Gradient(dense, rows, assembler.received_bytes)

    def _apply(self, view: JobView, slot: _Slot, arrays: JobArrays, gradient: "_Gradient",
               lr: float) -> StepResult:
        config = view.spec.optimizer
        backend, layout = self._backend, arrays.layout
        started = time.perf_counter()
        if gradient.dense:
            backend.memory.copy_in(arrays.grads, arrays.host_grads)
        state = optim.update_tensors(config, arrays.params, arrays.grads, arrays.state, lr, backend=backend,
                                     layout=layout, dense=gradient.dense, rows=gradient.rows)
        seconds = time.perf_counter() - started
        skipped = state.skipped_nonfinite > arrays.state.skipped_nonfinite
        arrays.state, arrays.next_step, arrays.last_skipped = state, arrays.next_step + 1, skipped
        kind = type(config.algorithm).__name__.lower()
        if skipped:
            metrics.count_events(view.job_id, ["nonfinite_gradient"])
        else:
            metrics.observe_optimizer_step(view.job_id, kind, seconds, layout.size)
        every = view.spec.snapshot_every_steps
        if every and arrays.next_step - slot.snapshot_step >= every:
            self._snapshot(view, slot, arrays)
        return StepResult(arrays.next_step - 1, lr, skipped, arrays.next_step, False)

    def _reply(self, arrays: JobArrays, gradient: "_Gradient", options: ReplyOptions) -> Iterable[Chunk]:
        """The reply's chunks; call with the job's lock held (they are a consistent picture).
        "touched" sends what the step changed: its dense tensors whole, its tables' rows."""
        if options.mode == "none":
            return ()
        memory = self._backend.memory
        if options.mode == "all":
            return replies.dense_chunks(arrays.layout, host_copy(memory, arrays.params), options)
        rows = replies.row_chunks(arrays.layout, memory.to_host(arrays.params),
                                  {name: np.unique(g.rows) for name, g in gradient.rows.items()}, options)
        dense = replies.dense_chunks(arrays.layout, host_copy(memory, arrays.params), options,
                                     names=set(gradient.dense))
        return itertools.chain(dense, rows)

    # ---- export and import ------------------------------------------------------------
    def export(self, job_id: str) -> bytes:
        """The whole job as one portable file (export_file), consistent as of one step."""
        view = self._jobs.get(job_id)
        slot = self._slot(job_id) if view.spec.optimizer is not None else None
        with slot.lock if slot else contextlib.nullcontext():
            loaded = self._loaded(view, slot) if slot else None
            arrays, meta = loaded.to_archive(self._backend) if loaded else ({}, None)
            data = export_file.pack(export_file.ExportedJob(job_id, view.spec.document,
                                                            policies.state_to_dict(view.state), arrays, meta))
        metrics.count_transfer(sent_bytes=len(data))
        return data

    def receive_import(self, job_id: str, pieces: Iterable[bytes]) -> bytes:
        """The file an ImportJob streams, read only while it fits in what the optimizer state
        limit leaves free plus IMPORT_METADATA_BYTES; the header's job id and the job limit
        are checked before any of it is read."""
        if job_id:
            check_job_id(job_id)
        self._jobs.check_room()
        limit = self._budget.free() + IMPORT_METADATA_BYTES
        received, size = [], 0
        for piece in pieces:
            size += len(piece)
            if size > limit:
                raise ResourceExhausted(
                    f"import size limit exceeded: the file is over {limit} bytes, what the optimizer state limit of "
                    f"{self._budget.limit} bytes leaves free plus {IMPORT_METADATA_BYTES} bytes for metadata "
                    "(--max-optimizer-state-bytes)")
            received.append(piece)
        return b"".join(received)

    def import_job(self, job_id: str, data: bytes, token_hash: str = "") -> tuple[str, int]:
        """Creates a job from an exported file (named `job_id`, or as in the file), with the
        hash of its bearer token; everything is checked before the job is created, so a
        refused import leaves nothing behind."""
        exported = export_file.unpack(data)
        job_id = job_id or exported.job_id
        spec = self._jobs.decode_spec(exported.spec_document)
        state = policies.state_from_dict(exported.policy_state)
        check_job_id(job_id)
        arrays = None
        with self._budget.claim(job_id) as claim:
            if exported.arrays_meta is not None:
                if spec.optimizer is None:
                    raise InvalidArgument(FieldViolation("file.spec.optimizer", "the file has arrays but no optimizer"))
                self._admit(claim, spec.optimizer, JobArrays.archived_elements(exported.arrays))
                arrays = JobArrays.from_archive(spec.optimizer, exported.arrays, exported.arrays_meta, self._backend)
            view = self._jobs.create(job_id, spec, state=state, token_hash=token_hash)
            slot = self._slot(job_id)
            try:
                with slot.lock:
                    slot.loaded = True
                    if arrays is not None:
                        self._snapshot(view, slot, arrays, required=True)
                    self._set_arrays(slot, arrays, claim)
            except LrctlError:
                self._undo_create(job_id)
                raise
        metrics.count_transfer(received_bytes=len(data))
        return job_id, arrays.next_step if arrays else 0

    def _undo_create(self, job_id: str) -> None:
        """Deletes a job whose import failed to snapshot its arrays (storage full), so that no
        job outlives the only durable copy of its arrays; if that fails too, the job stays,
        without arrays, and can be uploaded to."""
        try:
            self._jobs.delete(job_id)
        except LrctlError as error:
            log.error("job %r: could not delete the job whose import failed: %s", job_id, error)

    # ---- durability -------------------------------------------------------------------
    def _snapshot(self, view: JobView, slot: _Slot, arrays: JobArrays, required: bool = False) -> None:
        """Writes the job's snapshot; a failure is logged and counted, and the old one stays.

        A step's snapshot is not `required`: the step was applied in memory, so a failure only
        delays durability to the next step, which tries again. An upload's or import's is:
        without it the arrays would live in memory only, so a failure raises (storage full or
        unavailable).
        """
        started = time.perf_counter()
        contents, meta = arrays.to_archive(self._backend)
        try:
            self._snapshots.write(view.job_id, contents, {**meta, "job_create_time": view.create_time})
        except OSError as error:
            log.error("job %r: snapshot at step %d failed: %s", view.job_id, arrays.next_step, error)
            metrics.observe_snapshot(time.perf_counter() - started, ok=False)
            if required:
                raise storage_error(error) from None
            return
        slot.snapshot_step = arrays.next_step
        metrics.observe_snapshot(time.perf_counter() - started)

    def snapshot_all(self) -> None:
        """Snapshots every job that changed since its last snapshot (graceful shutdown)."""
        with self._lock:
            slots = list(self._slots.items())
        for job_id, slot in slots:
            with slot.lock:
                if slot.arrays is None or slot.arrays.next_step == slot.snapshot_step:
                    continue
                try:
                    view = self._jobs.get(job_id)
                except LrctlError:
                    continue
                self._snapshot(view, slot, slot.arrays)


def _counted(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    """`chunks`, counting their payload bytes as sent."""
    for chunk in chunks:
        metrics.count_transfer(sent_bytes=len(chunk.data) + len(chunk.rows))
        yield chunk


@dataclass(frozen=True)
class _Gradient:
    """A step's gradient: dense tensors (decoded into the job's gradient buffer) and row
    gradients by tensor; tensors in neither are not part of the step."""

    dense: list[str]
    rows: dict[str, optim.RowGradient]
    received_bytes: int
