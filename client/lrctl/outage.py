"""Riding out an outage of every server: a training loop keeps going while no replica answers.

While no server answers (UNAVAILABLE or DEADLINE_EXCEEDED once gRPC's own retries are spent),
a job handle
- answers `lr(step)` from its lease, and past the lease's end holds the last LR it knew;
- queues `report()`s and answers each with a pending Decision (the last known LR, `pending`);
  a background thread re-sends the queue in order once a server answers (reports are
  idempotent on (job, step, metric), so a report that did land before its answer was lost is
  not counted twice), then fetches a fresh lease;
- logs the outage once when it starts and once when it ends, and counts what it did in
  `job.degraded`.
All of it is bounded by the client's `outage_tolerance_seconds`, counted from the first failed
call: past it, the call raises lrctl.Unavailable. 0 turns it off (every failure raises at once).
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from lrctl.errors import DeadlineExceeded, LrctlError, Unavailable

log = logging.getLogger("lrctl")

DEFAULT_OUTAGE_TOLERANCE = 300.0
OUTAGE_ERRORS = (Unavailable, DeadlineExceeded)
PROBE_FIRST_BACKOFF = 0.2
PROBE_MAX_BACKOFF = 2.0


@dataclass
class Degraded:
    """What a job handle did without a server: `held_lr` answers past the lease's end from the
    last known LR, `queued_reports` reports answered pending and re-sent later, `outages`
    outages ridden out (or still going on)."""

    held_lr: int = 0
    queued_reports: int = 0
    outages: int = 0


@dataclass
class _Pending:
    step: int
    values: dict[str, float]


@dataclass
class OutageGuard:
    """One job handle's outage state. `send(step, values)` reports for real; `refresh(step)`
    fetches a lease from `step`; both raise the SDK's errors."""

    job_id: str
    tolerance: float
    send: Callable[[int, Mapping[str, float]], object]
    refresh: Callable[[int], object]
    degraded: Degraded = field(default_factory=Degraded)
    _since: float | None = None
    _queue: collections.deque = field(default_factory=collections.deque)
    _wanted_step: int | None = None
    _refused: LrctlError | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sending: threading.Lock = field(default_factory=threading.Lock)
    _drained: threading.Condition = field(init=False)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._drained = threading.Condition(self._lock)

    @property
    def ongoing(self) -> bool:
        """True while the handle is riding out an outage (it will not call for an LR now)."""
        return self._since is not None

    @property
    def sending(self) -> threading.Lock:
        """Held around every report sent, so a report never overtakes the queue."""
        return self._sending

    def queued(self) -> bool:
        return bool(self._queue)

    # ---- the training loop's side -------------------------------------------------------
    def hold_lr(self, step: int, last_lr: float | None, error: LrctlError | None = None) -> float:
        """The LR to answer for `step` past the lease while no server answers."""
        self._begin(error)
        if last_lr is None:
            raise error or Unavailable(f"UNAVAILABLE: job {self.job_id!r}: no server answers and no LR is known yet")
        with self._lock:
            self._wanted_step = step
            self.degraded.held_lr += 1
        self._start_thread()
        return last_lr

    def queue_report(self, step: int, values: Mapping[str, float], error: LrctlError | None = None) -> None:
        """Queues a report that could not be sent (or must wait behind the queue)."""
        self._begin(error)
        with self._lock:
            self._queue.append(_Pending(step, dict(values)))
            self.degraded.queued_reports += 1
        self._start_thread()

    def raise_refused(self) -> None:
        """Raises, once, the error a server gave a queued report (e.g. a stale step)."""
        with self._lock:
            refused, self._refused = self._refused, None
        if refused is not None:
            raise refused

    def flush(self, timeout: float | None = None) -> None:
        """Waits until every queued report has been sent; Unavailable past the tolerance (or
        `timeout`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._queue:
                self._check_tolerance()
                if deadline is not None and time.monotonic() > deadline:
                    raise Unavailable(f"UNAVAILABLE: job {self.job_id!r}: {len(self._queue)} report(s) still "
                                      f"queued after {timeout:g} s")
                self._drained.wait(0.1)
        self.raise_refused()

    def _begin(self, error: LrctlError | None) -> None:
        """Starts (or continues) an outage; raises once the tolerance is spent."""
        if self.tolerance <= 0:
            if error is not None:
                raise error
            return
        with self._lock:
            if self._since is None:
                self._since = time.monotonic()
                self.degraded.outages += 1
                log.warning("lrctl: job %r: no server answers (%s); serving LRs from the lease or the last "
                            "known LR and queueing reports, for up to %g s", self.job_id,
                            error.message if error is not None else "UNAVAILABLE", self.tolerance)
            self._check_tolerance(error)

    def _check_tolerance(self, error: LrctlError | None = None) -> None:
        since = self._since
        if since is not None and time.monotonic() - since > self.tolerance:
            raise Unavailable(f"UNAVAILABLE: job {self.job_id!r}: no server has answered for "
                              f"{time.monotonic() - since:.0f} s (outage_tolerance_seconds={self.tolerance:g})"
                              + (f"; last error: {error.message}" if error is not None else ""))

    # ---- the background thread -------------------------------------------------------------
    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._recover, name=f"lrctl-outage-{self.job_id}",
                                                daemon=True)
                self._thread.start()

    def _recover(self) -> None:
        """Re-sends the queue in order, then fetches a lease, until both worked; gives up once
        the tolerance is spent (the queue stays: flush() and report() then raise) or the
        client is closed."""
        backoff = PROBE_FIRST_BACKOFF
        while True:
            try:
                self._send_queue()
                with self._lock:
                    wanted = self._wanted_step
                if wanted is not None:
                    self.refresh(wanted)
            except OUTAGE_ERRORS:
                since = self._since
                if since is not None and time.monotonic() - since > self.tolerance:
                    with self._lock:
                        self._thread = None
                    return
                time.sleep(backoff)
                backoff = min(backoff * 2, PROBE_MAX_BACKOFF)
                continue
            except ValueError:  # grpc: "Cannot invoke RPC on closed channel": the client was closed
                with self._lock:
                    self._thread = None
                return
            with self._lock:
                if self._queue:
                    continue
                if self._since is not None:
                    log.warning("lrctl: job %r: a server answers again after %.1f s; %d report(s) re-sent",
                                self.job_id, time.monotonic() - self._since, self.degraded.queued_reports)
                self._since = None
                self._wanted_step = None
                self._thread = None
                self._drained.notify_all()
                return

    def _send_queue(self) -> None:
        with self._sending:
            while True:
                with self._lock:
                    if not self._queue:
                        return
                    pending = self._queue[0]
                try:
                    self.send(pending.step, pending.values)
                except OUTAGE_ERRORS:
                    raise
                except LrctlError as error:
                    log.error("lrctl: job %r: the queued report of step %d was refused: %s", self.job_id,
                              pending.step, error.message)
                    with self._lock:
                        self._refused = error
                with self._lock:
                    self._queue.popleft()
                    self._drained.notify_all()
