"""The change feed of a shared PostgreSQL store: LISTEN on one dedicated connection, and a
heartbeat that proves the feed complete up to a known time.

The `jobs` trigger notifies JOBS_CHANNEL from every commit that creates, changes or deletes a
job. PostgreSQL delivers notifications to a listening session in commit order, across
channels. So every HEARTBEAT_SECONDS the feed notifies its own channel, noting when; when
that heartbeat comes back, every commit made before it was sent has already been handed to
the listeners. That time is the SyncPoint. A connection that drops, or a heartbeat that does
not come back within SILENCE_SECONDS (a half-dead connection), makes the feed reconnect and
start a new generation, telling the listeners to resync: what was sent meanwhile is lost.

The connection is dedicated and direct: LISTEN through a transaction-pooling pooler
(PgBouncer) would listen on a server connection that other clients then get.
"""
from __future__ import annotations

import itertools
import logging
import math
import secrets
import threading
import time

import psycopg

from lrctl.server.store.base import ChangeListener, SyncPoint

log = logging.getLogger(__name__)

JOBS_CHANNEL = "lrctl_jobs"
HEARTBEAT_SECONDS = 0.1
SILENCE_SECONDS = 2.0
"""A heartbeat not back after this long: the connection is taken for dead and replaced."""
RECONNECT_BACKOFF = (0.05, 0.1, 0.2, 0.5)
CONNECT_TIMEOUT = 2


class ChangeFeed:
    """Starts its thread with the first listener; `close()` stops it."""

    def __init__(self, url: str, where: str) -> None:
        self._url = url
        self._where = where
        self._sync_channel = f"lrctl_sync_{secrets.token_hex(8)}"
        self._listeners: list[ChangeListener] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._as_of = -math.inf
        self.backend_pid = 0
        """The listening session's server process id (tests terminate it to drop the feed)."""

    def add(self, listener: ChangeListener) -> None:
        with self._lock:
            self._listeners.append(listener)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lrctl-change-feed", daemon=True)
                self._thread.start()

    def sync_point(self) -> SyncPoint:
        with self._lock:
            return SyncPoint(self._generation, self._as_of)

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(5)

    # ---- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        while not self._closed.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                                     application_name="lrctl-change-feed") as conn:
                    self._listen(conn)
                    failures = 0
                    self._follow(conn)
            except (psycopg.Error, _Silent) as error:
                if self._closed.is_set():
                    break
                log.warning("change feed of %s lost (%s); reconnecting: cached job views are checked against "
                            "the store until it is back", self._where, error)
            self._resync()
            self._closed.wait(RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)])
            failures += 1

    def _listen(self, conn: psycopg.Connection) -> None:
        conn.execute(f"LISTEN {JOBS_CHANNEL}")
        conn.execute(f"LISTEN {self._sync_channel}")
        self.backend_pid = conn.info.backend_pid
        self._resync()

    def _resync(self) -> None:
        """A new generation, complete as of nothing yet: what came before it may be incomplete."""
        with self._lock:
            self._generation += 1
            self._as_of = -math.inf
            listeners = list(self._listeners)
        for listener in listeners:
            _call(listener.resync)

    def _follow(self, conn: psycopg.Connection) -> None:
        sent: dict[int, float] = {}
        confirmed = time.monotonic()
        for beat in itertools.count(1):
            if self._closed.is_set():
                return
            now = time.monotonic()
            if now - confirmed > SILENCE_SECONDS:
                raise _Silent(f"no heartbeat back for {now - confirmed:.1f} s")
            sent[beat] = now
            conn.execute("SELECT pg_notify(%s, %s)", (self._sync_channel, str(beat)))
            for notify in conn.notifies(timeout=HEARTBEAT_SECONDS):
                if notify.channel == JOBS_CHANNEL:
                    self._deliver(notify.payload)
                elif notify.channel == self._sync_channel:
                    back = int(notify.payload)
                    confirmed = sent.pop(back, confirmed)
                    for older in [b for b in sent if b < back]:
                        del sent[older]
                    with self._lock:
                        self._as_of = max(self._as_of, confirmed)

    def _deliver(self, payload: str) -> None:
        try:
            op, job_id, version, create_time = payload.split(" ")
            version_number, created = int(version), float(create_time)
        except ValueError:
            log.error("change feed: unreadable notification %r", payload)
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            if op == "d":
                _call(listener.job_deleted, job_id, created)
            else:
                _call(listener.job_changed, job_id, version_number, created)


class _Silent(Exception):
    """The connection looks alive but our own heartbeats stopped coming back."""


def _call(method, *args) -> None:
    try:
        method(*args)
    except Exception:  # noqa: BLE001 - a listener's bug must not stop the feed for the others
        log.exception("change feed listener failed")
