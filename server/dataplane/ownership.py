"""Which replica serves a data-plane job: on a shared store, the one the database names as its
owner; on a store only this server writes (SQLite), this server, always.

A job's arrays live in one replica's memory and data directory, so exactly one replica may
step it. The store records the owner of each job incarnation with a fencing epoch
(store.OwnerRecord). The replica that uploads a job's parameters or imports it claims it (the
first claim wins), and so does a replica that finds its own snapshot of an unowned job (one
from before owners were recorded). Every data-plane call on a shared store reads the owner
row before it touches arrays: the owner goes on; another replica answers NotOwner
(FAILED_PRECONDITION with the owner's address, which the SDK follows), or OwnerDown
(UNAVAILABLE naming it) once the owner's last heartbeat is over OWNER_SILENCE_SECONDS old.
Every snapshot the owner writes is committed under its epoch, and that commit is refused once
the epoch moved on: a replica that lost a job never commits its state again.
"""
from __future__ import annotations

import math

from lrctl.server.errors import LrctlError, NotFound, NotOwner, OwnerDown
from lrctl.server.jobs import JobView
from lrctl.server.store import OwnerRecord, Store

FIRST_EPOCH = 1
"""The epoch of a job's first owner, and of every job on a store only this server writes."""
HEARTBEAT_SECONDS = 1.0
"""How often a replica on a shared store registers again (its heartbeat)."""
OWNER_SILENCE_SECONDS = 5.0
"""An owner whose last heartbeat is older than this, by the database's clock, is down: other
replicas answer its jobs' data-plane calls UNAVAILABLE instead of pointing to it."""


class Ownership:
    """This replica's side of the owner records: `replica_id` is its identity (datadir.py)."""

    def __init__(self, store: Store, replica_id: str) -> None:
        self._store = store
        self.replica_id = replica_id

    @property
    def shared(self) -> bool:
        return self._store.shared

    @property
    def claimant(self) -> str:
        """Who an imported job's row names as its owner ("" on a store only this server writes)."""
        return self.replica_id if self.shared else ""

    def register(self, address: str) -> None:
        """Records `address` as where clients reach this replica, and now as its heartbeat."""
        if self.shared:
            self._store.register_replica(self.replica_id, address)

    def holder(self, view: JobView, claim: bool) -> int | None:
        """The epoch at which this replica holds the job's incarnation, claiming it first if it
        is unowned and `claim`; None when nobody holds it. NotOwner or OwnerDown when another
        replica does; NotFound when the incarnation is gone."""
        if not self.shared:
            return FIRST_EPOCH
        owner = self._store.load_owner(view.job_id, view.create_time)
        if owner is None and claim:
            owner = self._store.claim_owner(view.job_id, view.create_time, self.replica_id)
            if owner is None:
                raise NotFound(f"job {view.job_id!r} not found")
        if owner is None:
            return None
        if owner.replica_id != self.replica_id:
            raise elsewhere(owner)
        return owner.epoch

    def commit(self, view: JobView, epoch: int, step: int) -> None:
        """Commits a snapshot at `step` (its file already written) as the job's durable state,
        fenced by `epoch`: NotOwner or OwnerDown when the epoch moved on (this replica lost
        the job), NotFound when the incarnation is gone; the store's own errors pass through."""
        if not self.shared:
            return
        owner = self._store.commit_snapshot(view.job_id, view.create_time, self.replica_id, epoch, step)
        if owner is None:
            raise NotFound(f"job {view.job_id!r} not found")
        if (owner.replica_id, owner.epoch) != (self.replica_id, epoch):
            raise elsewhere(owner, f"this replica held it at epoch {epoch}, which is over")


def elsewhere(owner: OwnerRecord, context: str = "") -> LrctlError:
    """The answer to a data-plane call of a job that `owner` holds: go there, or it is down."""
    where = f"replica {owner.replica_id} at {owner.address or '(no address registered)'}, epoch {owner.epoch}"
    said = f" ({context})" if context else ""
    if owner.silent_seconds > OWNER_SILENCE_SECONDS:
        silence = ("has never been heard from" if math.isinf(owner.silent_seconds)
                   else f"has not been heard from for {owner.silent_seconds:.0f} s")
        return OwnerDown(f"job {owner.job_id!r}: its data plane lives on {where}, which {silence}: it is down{said}; "
                         "the job's control-plane calls work on every replica", owner)
    return NotOwner(f"job {owner.job_id!r}: its data plane lives on {where}{said}: send its data-plane calls there",
                    owner)
