"""The data plane's limits (DESIGN §6) and the byte budget that enforces the total one.

Every refusal is RESOURCE_EXHAUSTED with a message naming the limit, its value and the flag
that sets it, and comes before anything is allocated or changed. The budget counts what is
in memory: each job's parameters, gradient scratch and optimizer state slots (float32), plus
what uploads, imports and restores in flight have claimed before allocating, so concurrent
uploads cannot pass the limit together. A job whose snapshot is not loaded yet (after a
restart) counts from its first use.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from lrctl.protocol import wire
from lrctl.server import optim
from lrctl.server.errors import FieldViolation, InvalidArgument, ResourceExhausted

IMPORT_METADATA_BYTES = 1 << 20
"""What an imported file may hold beyond its arrays: the archive's headers and JSON metadata."""
MAX_PULL_ROWS_BYTES = 256 << 20
"""The rows one PullRows may gather (in the reply's dtype): a lookup is copied whole under the job's lock."""


@dataclass(frozen=True)
class DataPlaneLimits:
    """Field names are the ServerConfig's; `max_chunk_bytes` is at most the protocol's 4 MiB."""

    max_elements_per_job: int = 1 << 30
    max_optimizer_state_bytes: int = 8 << 30
    max_chunk_bytes: int = wire.MAX_CHUNK_BYTES

    def __post_init__(self) -> None:
        bad = [FieldViolation(name, f"must be at least 1, got {getattr(self, name)}")
               for name in ("max_elements_per_job", "max_optimizer_state_bytes", "max_chunk_bytes")
               if getattr(self, name) < 1]
        if self.max_chunk_bytes > wire.MAX_CHUNK_BYTES:
            bad.append(FieldViolation("max_chunk_bytes", f"at most {wire.MAX_CHUNK_BYTES}, got {self.max_chunk_bytes}"))
        if bad:
            raise InvalidArgument(bad)

    def check_chunk(self, field: str, data_bytes: int) -> None:
        """Refuses an incoming tensor chunk with more data bytes than the limit."""
        if data_bytes > self.max_chunk_bytes:
            raise ResourceExhausted(f"chunk size limit exceeded: {field} holds {data_bytes} data bytes, over the "
                                    f"limit of {self.max_chunk_bytes} bytes (--max-chunk-bytes)")

    def reply_chunk_bytes(self, requested: int, field: str) -> int:
        """The chunk size of a reply: `requested`, or when 0 the default (1 MiB, or the limit
        if that is smaller); a request over the limit is refused."""
        if not requested:
            return min(wire.DEFAULT_CHUNK_BYTES, self.max_chunk_bytes)
        if requested > self.max_chunk_bytes:
            raise ResourceExhausted(f"chunk size limit exceeded: {field} {requested} is over the limit of "
                                    f"{self.max_chunk_bytes} bytes (--max-chunk-bytes)")
        return requested

    def check_pull_rows(self, count: int, row_bytes: int) -> None:
        if count * row_bytes > MAX_PULL_ROWS_BYTES:
            raise ResourceExhausted(f"pull size limit exceeded: {count} rows of {row_bytes} bytes are over the limit of "
                                    f"{MAX_PULL_ROWS_BYTES} bytes per PullRows; ask for fewer rows at a time")

    def check_elements(self, elements: int) -> None:
        if elements > self.max_elements_per_job:
            raise ResourceExhausted(f"element limit exceeded: at least {elements} elements in one job, over the "
                                    f"limit of {self.max_elements_per_job} (--max-elements-per-job)")


def job_bytes(config: optim.OptimizerConfig, elements: int) -> int:
    """Bytes of a job's arrays: parameters, gradient scratch and every optimizer state slot,
    float32, known from the element count alone, before the layout is: what JobArrays.nbytes
    will be, or at most that for a slot shaped per tensor (optim/state.py: never larger than
    the parameters; Adafactor's factors are far smaller), so a claim never falls short."""
    return (2 + len(optim.slot_names(config.algorithm))) * 4 * elements


class Claim:
    """Bytes claimed for one job's next arrays (or a step's extra gradient buffer), grown as
    their size becomes known; only what exceeds the arrays they replace counts against the
    budget. Released when `swap` takes it over, or by `release()` (also on leaving a `with`
    block): whatever was not taken over is given back."""

    __slots__ = ("_budget", "job_id", "replacing", "nbytes")

    def __init__(self, budget: "StateBudget", job_id: str, replacing: int) -> None:
        self._budget = budget
        self.job_id = job_id
        self.replacing = replacing
        self.nbytes = 0

    @property
    def extra(self) -> int:
        return max(self.nbytes - self.replacing, 0)

    def grow_to(self, nbytes: int) -> None:
        """Claims `nbytes` in all; ResourceExhausted if they do not fit."""
        self._budget._grow(self, nbytes)

    def release(self) -> None:
        self._budget._release(self)

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class StateBudget:
    """The total bytes of every job's arrays against max_optimizer_state_bytes: `held` by
    arrays in place, plus the extra bytes of open claims, changed under one lock."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self.held = 0
        self._claimed = 0

    def free(self) -> int:
        with self._lock:
            return max(self.limit - self.held - self._claimed, 0)

    def in_use(self) -> int:
        """Bytes held by arrays in place plus open claims (what the device holds for jobs)."""
        with self._lock:
            return self.held + self._claimed

    def claim(self, job_id: str, replacing: int = 0) -> Claim:
        """A claim for arrays that will replace `replacing` bytes."""
        return Claim(self, job_id, replacing)

    def _grow(self, claim: Claim, nbytes: int) -> None:
        with self._lock:
            extra = max(nbytes - claim.replacing, 0) - claim.extra
            if extra > 0 and self.held + self._claimed + extra > self.limit:
                available = max(self.limit - self.held - self._claimed + claim.extra + claim.replacing, 0)
                raise ResourceExhausted(
                    f"optimizer state limit reached: job {claim.job_id!r} needs at least {nbytes} bytes of "
                    f"parameters, optimizer state and gradient buffers, {available} of the limit of {self.limit} "
                    "bytes are free for it (--max-optimizer-state-bytes)")
            self._claimed += extra
            claim.nbytes = nbytes

    def _release(self, claim: Claim) -> None:
        with self._lock:
            self._claimed -= claim.extra
            claim.nbytes = 0

    def swap(self, old: int, new: int, claim: Claim | None = None) -> None:
        """Arrays of `old` bytes were replaced by arrays of `new` bytes (allocated under `claim`)."""
        with self._lock:
            self.held += new - old
            if claim is not None:
                self._claimed -= claim.extra
                claim.nbytes = claim.replacing
