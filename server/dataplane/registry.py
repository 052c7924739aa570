"""The data plane of one server: every job's arrays, and the exactly-once step.

A streamed call has two halves. Its chunks are decoded as they arrive into a buffer of the
call's own (a gradient buffer of the job's, or an upload's new tensors, claimed from the
memory budget first), without the job's lock: a slow or stalled sender holds only its buffer.
Then, under the job's lock, the call is checked again against the job as it is now (the step
number, the arrays it was decoded for, deletion) and applied: run the optimizer (which itself
refuses or skips a non-finite gradient before writing), advance the step, snapshot when due,
and take the reply's picture of the parameters. Anything refused before the optimizer writes
changes nothing. The learning rate of step t is the control plane's LR for step t.

Arrays load lazily from the job's snapshot on first use, like the control plane's jobs. On a
shared store only the job's owner holds them (ownership.py): every call first finds who that
is, a replica that finds another one answers with its address, and one that finds it lost the
job drops what it held of it. Every
method blocks (kernels, snapshots, store reads): the service layer runs them off the event loop,
except StepInput.add / UploadInput.add / ImportInput.add, which only decode bytes.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Collection, Iterable, Iterator

import numpy as np

from lrctl.protocol import wire
from lrctl.server import optim, policies
from lrctl.server.backends import Backend, host_copy
from lrctl.protocol import bfloat16
from lrctl.server.dataplane import export_file, reduce, replies
from lrctl.server.dataplane.arrays import JobArrays
from lrctl.protocol.chunks import Chunk
from lrctl.server.dataplane.chunks import UploadAssembler, requested_rows
from lrctl.server.dataplane.limits import IMPORT_METADATA_BYTES, Claim, DataPlaneLimits, StateBudget, job_bytes
from lrctl.server.dataplane.ownership import FIRST_EPOCH, Ownership
from lrctl.server.dataplane.replies import ReplyOptions
from lrctl.server.dataplane.slots import Slot
from lrctl.server.dataplane.stepping import Stepping
from lrctl.server.dataplane.snapshots import SnapshotStore
from lrctl.server.errors import (
    Aborted,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    LrctlError,
    NotFound,
    NotOwner,
    OwnerDown,
    ResourceExhausted,
)
from lrctl.server.jobs import JobRegistry, JobView, check_job_id
from lrctl.server.metrics import ServerMetrics
from lrctl.server.pause_points import PausePoint, no_pause
from lrctl.server.store.failures import storage_error

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParametersInfo:
    """A job's step counters: next expected step, applied steps (bias corrections), skipped ones."""

    server_step: int
    applied_steps: int
    skipped_nonfinite: int
    elements: int


class UploadInput:
    """One UploadParameters call's tensors as they arrive; each new tensor is admitted against
    the job's element limit and the memory budget before it is allocated."""

    def __init__(self, view: JobView, slot: Slot, claim: Claim, limits: DataPlaneLimits,
                 admit: Callable[[int], None]) -> None:
        self.view, self.slot, self.claim = view, slot, claim
        self._assembler = UploadAssembler(limits, admit)

    def add(self, chunk: Chunk) -> None:
        self._assembler.add(chunk)

    def tensors(self) -> tuple[optim.Layout, np.ndarray, int]:
        layout = self._assembler.layout()
        params = np.concatenate([*self._assembler.tensors.values(), np.empty(0, np.float32)])
        return layout, params, self._assembler.received_bytes


class ImportInput:
    """An ImportJob file as it arrives, refused once it is larger than what the optimizer state
    limit leaves free plus IMPORT_METADATA_BYTES."""

    def __init__(self, limit: int, budget_limit: int) -> None:
        self.limit, self._budget_limit = limit, budget_limit
        self._pieces: list[bytes] = []
        self._size = 0

    def add(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._size > self.limit:
            raise ResourceExhausted(
                f"import size limit exceeded: the file is over {self.limit} bytes, what the optimizer state limit of "
                f"{self._budget_limit} bytes leaves free plus {IMPORT_METADATA_BYTES} bytes for metadata "
                "(--max-optimizer-state-bytes)")
        self._pieces.append(piece)

    def data(self) -> bytes:
        return b"".join(self._pieces)


class DataPlane:
    """Every job's data-plane arrays on one backend (chosen once, at start), keyed by job id.

    The control plane stays the source of truth for a job's existence, spec and LR: arrays
    are refused for a job without an optimizer, and a deleted job's arrays and snapshot go
    with it (JobRegistry.on_delete, which runs before a job of the same id can be created).
    """

    def __init__(self, jobs: JobRegistry, backend: Backend, snapshots: SnapshotStore, metrics: ServerMetrics,
                 ownership: Ownership, limits: DataPlaneLimits = DataPlaneLimits(),
                 pause: PausePoint = no_pause) -> None:
        self._jobs = jobs
        self._ownership = ownership
        self._backend = backend
        self._snapshots = snapshots
        self._metrics = metrics
        self._pause = pause
        self.limits = limits
        self._slots: dict[str, Slot] = {}
        self._lock = threading.Lock()
        self._budget = StateBudget(limits.max_optimizer_state_bytes)
        self.steps = Stepping(self)
        metrics.read_at_scrape(device_memory=lambda: {backend.device: self._budget.in_use()})
        jobs.on_delete(self.forget)

    def warm_up(self) -> None:
        """Compiles (or loads from the on-disk cache) every kernel a call can reach: the
        optimizers' and the bfloat16 reply encoder. Blocks; the server runs it at start on a
        pool thread (seconds on a fresh install, well under one with the cache filled)."""
        started = time.perf_counter()
        names = optim.warm_up(self._backend)
        bfloat16.bits(np.zeros(4, np.float32))
        reduce.warm_up()
        log.info("data plane ready: %d optimizers' kernels on %s built or loaded in %.2f s", len(names),
                 self._backend.device, time.perf_counter() - started)

    # ---- jobs and their arrays --------------------------------------------------------
    def _job(self, job_id: str, claim: bool = False) -> tuple[JobView, Slot]:
        """The job (refused without an optimizer) and its current incarnation's slot, if this
        replica holds the job (claiming it first when it is unowned and `claim`, or when this
        replica has a snapshot of it); NotOwner or OwnerDown when another one does."""
        view = self._jobs.get(job_id)
        if view.spec.optimizer is None:
            raise FailedPrecondition(f"job {job_id!r} has no optimizer: create it with spec.optimizer to use the "
                                     "data plane")
        self._pause("dataplane.found")
        adopt = self._ownership.shared and self._snapshots.path(job_id).exists()
        try:
            epoch = self._ownership.holder(view, claim or adopt)
        except (NotOwner, OwnerDown) as error:
            self._drop_lost(job_id, error)
            raise
        if epoch is None:
            return view, Slot.unheld(view.create_time)
        return view, self._slot(view, epoch)

    def _slot(self, view: JobView, epoch: int) -> Slot:
        """The slot of `view`'s incarnation held at `epoch`; NotFound if the job is not that
        incarnation any more. A later epoch retires the slot of an earlier one (this replica
        lost the job and got it back: what it held before is not the job's state), and a call
        that found an earlier epoch than the slot's is refused."""
        if self._jobs.get(view.job_id).create_time != view.create_time:
            raise NotFound(f"job {view.job_id!r} not found")
        with self._lock:
            slot = self._slots.get(view.job_id)
            if slot is not None and slot.create_time == view.create_time and slot.epoch > epoch:
                raise Aborted(f"job {view.job_id!r}: its owner changed while this call started; send it again")
            stale = slot if slot is not None and (slot.create_time, slot.epoch) != (view.create_time, epoch) else None
            if slot is None or stale is not None:
                slot = self._slots[view.job_id] = Slot(view.create_time, epoch)
        if stale is not None:
            self._retire(stale)
        return slot

    def _drop_lost(self, job_id: str, error: NotOwner | OwnerDown) -> None:
        """Forgets the arrays and the snapshot this replica holds of a job another one owns."""
        with self._lock:
            slot = self._slots.get(job_id)
        if slot is None and not self._snapshots.path(job_id).exists():
            return
        if slot is not None and slot.arrays is not None:
            log.warning("job %r: dropping this replica's arrays of it (step %d): %s", job_id, slot.arrays.next_step,
                        error)
        self.forget(job_id)

    def _fence(self, job_id: str, slot: Slot) -> None:
        """This replica lost the job while it held `slot` (call with slot.lock held): its arrays
        and snapshot are not the job's state any more."""
        slot.deleted = True
        self._set_arrays(slot, None)
        with self._lock:
            if self._slots.get(job_id) is slot:
                del self._slots[job_id]
        self._snapshots.delete(job_id)

    @staticmethod
    def _check_live(view: JobView, slot: Slot) -> None:
        """Call with slot.lock held: refuses a call whose job was deleted since it found it."""
        if slot.deleted:
            raise NotFound(f"job {view.job_id!r} not found")

    def _loaded(self, view: JobView, slot: Slot) -> JobArrays | None:
        """The job's arrays, restored from its snapshot on first use; call with slot.lock held."""
        self._check_live(view, slot)
        if not slot.loaded:
            with self._budget.claim(view.job_id) as claim:
                self._set_arrays(slot, self._restore(view, slot.epoch, claim), claim)
            slot.loaded = True
            slot.snapshot_step = slot.arrays.next_step if slot.arrays else -1
        return slot.arrays

    def _arrays(self, view: JobView, slot: Slot) -> JobArrays:
        """Like `_loaded`, but refused before the job's parameters were uploaded."""
        arrays = self._loaded(view, slot)
        if arrays is None:
            raise FailedPrecondition(f"job {view.job_id!r} has no parameters yet: upload them first",
                                     server_step=0)
        return arrays

    def _set_arrays(self, slot: Slot, arrays: JobArrays | None, claim: Claim | None = None) -> None:
        """Replaces the slot's arrays; `claim` is the budget claim they were allocated under."""
        self._budget.swap(slot.arrays.nbytes if slot.arrays else 0, arrays.nbytes if arrays else 0, claim)
        slot.set_arrays(arrays)

    def _admit(self, claim: Claim, view: JobView, elements: int) -> None:
        """Refuses arrays of `elements` parameters over the per-job or total limit, before they
        are allocated; otherwise claims their bytes."""
        self.limits.check_elements(elements)
        claim.grow_to(job_bytes(view.spec.optimizer, elements))

    def _restore(self, view: JobView, epoch: int, claim: Claim) -> JobArrays | None:
        """The arrays of the job's snapshot, if it is this incarnation's, written under `epoch`
        (a snapshot from before owners were recorded has no epoch: it is the first owner's)."""
        found = self._snapshots.read(view.job_id)
        if found is None:
            return None
        arrays, meta = found
        if meta.get("job_create_time") != view.create_time:
            log.warning("ignoring the snapshot of an earlier job named %r", view.job_id)
            return None
        if meta.get("owner_epoch", FIRST_EPOCH) != epoch:
            log.warning("job %r: ignoring its snapshot written under owner epoch %s (it is held at %d now)",
                        view.job_id, meta.get("owner_epoch"), epoch)
            return None
        self._admit(claim, view, JobArrays.archived_elements(arrays))
        restored = JobArrays.from_archive(view.spec.optimizer, arrays, meta, self._backend)
        log.info("job %r: arrays restored from its snapshot at step %d", view.job_id, restored.next_step)
        return restored

    def forget(self, job_id: str) -> None:
        """Drops a deleted job's arrays and snapshot; afterwards no call that found the job can
        write either."""
        with self._lock:
            slot = self._slots.pop(job_id, None)
        if slot is not None:
            self._retire(slot)
        self._snapshots.delete(job_id)

    def _retire(self, slot: Slot) -> None:
        with slot.lock:
            slot.deleted = True
            self._set_arrays(slot, None)

    # ---- upload and pull --------------------------------------------------------------
    def begin_upload(self, job_id: str) -> UploadInput:
        """Starts an upload of the job's parameters (with fresh optimizer state); refused once a
        step was handled."""
        view, slot = self._job(job_id, claim=True)
        with slot.lock:
            current = self._loaded(view, slot)
            self._check_not_stepped(job_id, current)
            claim = self._budget.claim(job_id, replacing=current.nbytes if current else 0)
        return UploadInput(view, slot, claim, self.limits, lambda elements: self._admit(claim, view, elements))

    @staticmethod
    def _check_not_stepped(job_id: str, arrays: JobArrays | None) -> None:
        if arrays is not None and arrays.next_step:
            raise FailedPrecondition(f"job {job_id!r} is at step {arrays.next_step}: parameters can be uploaded "
                                     "only before the first step", server_step=arrays.next_step)

    def finish_upload(self, upload: UploadInput) -> ParametersInfo:
        view, slot = upload.view, upload.slot
        try:
            layout, params, received = upload.tensors()
            with slot.lock:
                current = self._loaded(view, slot)
                self._check_not_stepped(view.job_id, current)
                arrays = JobArrays.fresh(view.spec.optimizer, layout, params, self._backend)
                self._snapshot(view, slot, arrays, required=True)
                self._set_arrays(slot, arrays, upload.claim)
        finally:
            upload.claim.release()
        self._metrics.count_transfer(received_bytes=received)
        return self._info(arrays)

    def abandon_upload(self, upload: UploadInput) -> None:
        upload.claim.release()

    def pull(self, job_id: str, names: Collection[str] = (), *,
             options: ReplyOptions) -> tuple[ParametersInfo, Iterator[Chunk]]:
        """The parameters as of now (all, or the tensors `names` names), with the step counters;
        chunks are encoded as they are sent."""
        view, slot = self._job(job_id)
        with slot.lock:
            arrays = self._arrays(view, slot)
            unknown = sorted(set(names) - {span.name for span in arrays.layout.spans})
            if unknown:
                raise InvalidArgument([FieldViolation("names", f"Unknown tensor: {name!r}") for name in unknown])
            chunks = replies.dense_chunks(arrays.layout, host_copy(self._backend.memory, arrays.params), options,
                                          names=set(names) or None)
            info = self._info(arrays)
        return info, self._counted(chunks)

    def pull_rows(self, job_id: str, name: str, raw_rows: bytes, *,
                  options: ReplyOptions) -> tuple[ParametersInfo, Iterator[Chunk]]:
        """Rows of a 2-D tensor by index, in the order asked (an embedding lookup), gathered under
        the job's lock: that gather is the reply's one copy."""
        view, slot = self._job(job_id)
        with slot.lock:
            arrays = self._arrays(view, slot)
            rows = requested_rows(arrays.layout, name, raw_rows)
            self.limits.check_pull_rows(rows.size, arrays.layout.span(name).shape[1] * wire.ITEMSIZE[options.dtype])
            chunks = replies.row_chunks(arrays.layout, self._backend.memory.to_host(arrays.params), {name: rows},
                                        options)
            info = self._info(arrays)
        return info, self._counted(chunks)

    @staticmethod
    def _info(arrays: JobArrays) -> ParametersInfo:
        return ParametersInfo(arrays.next_step, arrays.state.step, arrays.state.skipped_nonfinite, arrays.layout.size)

    # ---- the step (stepping.py) ----------------------------------------------------------
    def _counted(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """`chunks`, counting their payload bytes as sent."""
        for chunk in chunks:
            self._metrics.count_transfer(sent_bytes=len(chunk.data) + len(chunk.rows))
            yield chunk

    # ---- export and import ------------------------------------------------------------
    def export(self, job_id: str) -> bytes:
        """The whole job as one portable file (export_file), consistent as of one step."""
        view = self._jobs.get(job_id)
        arrays, meta = {}, None
        if view.spec.optimizer is not None:
            view, slot = self._job(job_id)
            with slot.lock:
                loaded = self._loaded(view, slot)
                if loaded is not None:
                    arrays, meta = loaded.to_archive(self._backend)
                data = self._pack(view, arrays, meta)
        else:
            data = self._pack(view, arrays, meta)
        self._metrics.count_transfer(sent_bytes=len(data))
        return data

    @staticmethod
    def _pack(view: JobView, arrays: dict[str, np.ndarray], meta: dict | None) -> bytes:
        return export_file.pack(export_file.ExportedJob(view.job_id, view.spec.document,
                                                        policies.state_to_dict(view.state), arrays, meta))

    def begin_import(self, job_id: str) -> ImportInput:
        """Checks the header's job id and the job limit before any of the file is read."""
        if job_id:
            check_job_id(job_id)
        self._jobs.check_room()
        return ImportInput(self._budget.free() + IMPORT_METADATA_BYTES, self._budget.limit)

    def import_job(self, job_id: str, data: bytes, token_hash: str = "",
                   idempotency_key: str = "") -> tuple[str, int]:
        """Creates a job from an exported file (named `job_id`, or as in the file), with the
        hash of its bearer token. Everything is checked before the job is created, and its
        arrays are durable (their snapshot written) before its row is: after a crash at any
        point the job exists with its arrays or not at all. This replica is the new job's owner
        (its row names it). A retry with the same `idempotency_key` and file gets the job it
        created (and another token)."""
        with self._budget.claim(job_id or "(imported)") as claim:
            exported = export_file.unpack(data, lambda header: self._admission(header, claim))
            job_id = job_id or exported.job_id
            check_job_id(job_id)
            spec = self._jobs.decode_spec(exported.spec_document)
            try:
                state = policies.state_from_dict(exported.policy_state)
            except InvalidArgument as error:
                raise error.under("file.meta.policy_state") from None
            arrays = None
            if exported.arrays_meta is not None:
                arrays = JobArrays.from_archive(spec.optimizer, exported.arrays, exported.arrays_meta, self._backend)
            written: list[JobView] = []

            def durable_arrays(view: JobView) -> None:
                if arrays is not None:
                    self._write_snapshot(view, arrays, FIRST_EPOCH)
                written.append(view)

            view = self._jobs.create(job_id, spec, idempotency_key, state=state, token_hash=token_hash,
                                     before_insert=durable_arrays, owner=self._ownership.claimant)
            if not written:  # an idempotent retry: the job and its arrays are the first import's
                return job_id, self._server_step(view)
            if spec.optimizer is not None:
                slot = self._slot(view, FIRST_EPOCH)
                with slot.lock:
                    self._check_live(view, slot)
                    slot.loaded = True
                    self._set_arrays(slot, arrays, claim)
                    if arrays is not None:
                        self._commit(view, slot, arrays.next_step, required=False)
        self._metrics.count_transfer(received_bytes=len(data))
        return job_id, arrays.next_step if arrays else 0

    def _admission(self, header: export_file.ExportedJob, claim: Claim) -> Callable[[str, int], None]:
        """The check each array member of an imported file passes before it is inflated: the
        parameters are held to the element limit and claim the job's bytes from the budget;
        every other member is an optimizer state slot, no larger than the parameters (its
        exact size, from the layout, is checked when the arrays are restored)."""
        spec = self._jobs.decode_spec(header.spec_document)
        if header.arrays_meta is not None and spec.optimizer is None:
            raise InvalidArgument(FieldViolation("file.spec.optimizer", "the file has arrays but no optimizer"))
        admitted: list[int] = []

        def admit(name: str, elements: int) -> None:
            if header.arrays_meta is None:
                raise InvalidArgument(FieldViolation(f"file.{name}", "the file's metadata says it has no arrays"))
            if not admitted:
                if name != "params":
                    raise InvalidArgument(FieldViolation(f"file.{name}", "the parameters must come first"))
                self.limits.check_elements(elements)
                claim.grow_to(job_bytes(spec.optimizer, elements))
                admitted.append(elements)
            elif elements > admitted[0]:
                raise InvalidArgument(FieldViolation(f"file.{name}", f"has {elements} elements, more than the "
                                                                     f"parameters' {admitted[0]}"))
        return admit

    def _server_step(self, view: JobView) -> int:
        if view.spec.optimizer is None:
            return 0
        view, slot = self._job(view.job_id)
        with slot.lock:
            arrays = self._loaded(view, slot)
            return arrays.next_step if arrays is not None else 0

    # ---- durability -------------------------------------------------------------------
    def _snapshot(self, view: JobView, slot: Slot, arrays: JobArrays, required: bool = False) -> None:
        """Writes the job's snapshot (call with slot.lock held); a failure is logged and counted,
        and the old one stays.

        A step's snapshot is not `required`: the step was applied in memory, so a failure only
        delays durability to the next step, which tries again. An upload's is: without it the
        arrays would live in memory only, so a failure raises (storage full or unavailable).
        """
        try:
            self._write_snapshot(view, arrays, slot.epoch)
        except LrctlError:
            if required:
                raise
            return
        self._commit(view, slot, arrays.next_step, required)

    def _commit(self, view: JobView, slot: Slot, step: int, required: bool) -> None:
        """Commits the snapshot just written at `step` under the slot's owner epoch (call with
        slot.lock held). A replica that lost the job drops it and raises; a commit the store
        could not take raises if `required`, else leaves it to the next snapshot."""
        try:
            self._ownership.commit(view, slot.epoch, step)
        except (NotOwner, OwnerDown):
            self._fence(view.job_id, slot)
            raise
        except LrctlError:
            if required:
                raise
            return
        slot.snapshot_step = step

    def _write_snapshot(self, view: JobView, arrays: JobArrays, epoch: int) -> None:
        """Writes `arrays` as the snapshot of `view`'s incarnation held at owner `epoch`;
        storage errors raise."""
        started = time.perf_counter()
        contents, meta = arrays.to_archive(self._backend)
        try:
            self._snapshots.write(view.job_id, contents,
                                  {**meta, "job_create_time": view.create_time, "owner_epoch": epoch})
        except OSError as error:
            log.error("job %r: snapshot at step %d failed: %s", view.job_id, arrays.next_step, error)
            self._metrics.observe_snapshot(time.perf_counter() - started, ok=False)
            raise storage_error(error) from None
        self._metrics.observe_snapshot(time.perf_counter() - started)

    def snapshot_all(self) -> None:
        """Snapshots every job that changed since its last snapshot (graceful shutdown)."""
        with self._lock:
            slots = list(self._slots.items())
        for job_id, slot in slots:
            with slot.lock:
                if slot.deleted or slot.arrays is None or slot.arrays.next_step == slot.snapshot_step:
                    continue
                try:
                    view = self._jobs.get(job_id)
                except LrctlError:
                    continue
                if view.create_time == slot.create_time:
                    try:
                        self._snapshot(view, slot, slot.arrays)
                    except LrctlError:
                        continue  # another replica holds the job now: this one dropped it

