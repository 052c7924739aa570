"""Per-job bearer tokens: issued at CreateJob/ImportJob, stored only as their sha256, looked up
by the auth interceptor.

Verified lookups are cached. A deleted job's entries are dropped, and a lookup that raced with
a deletion is not cached (the generation counter), so a cached token never outlives its job.
"""
from __future__ import annotations

import hashlib
import secrets
import threading

from lrctl.server.errors import NotFound, ResourceExhausted
from lrctl.server.store import Store

JOB_TOKEN_PREFIX = "lrj_"
MAX_TOKEN_CHARS = 512
MAX_CACHED_TOKENS = 100_000
MAX_TOKENS_PER_JOB = 64
"""Bearer tokens one job may have: its CreateJob and each idempotent replay issue one."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_job_token() -> tuple[str, str]:
    """A new job token and the hash the store keeps of it."""
    token = JOB_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


class JobTokens:
    """sha256(token) -> job id, from the store, with verified hits cached."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._add_lock = threading.Lock()
        self._cache: dict[str, str] = {}
        self._by_job: dict[str, set[str]] = {}
        self._generation = 0

    def cached_job_of(self, token: str) -> str | None:
        """The job a token belongs to if that is known without reading the store."""
        return self._cache.get(token_hash(token)) if _well_formed(token) else None

    def job_of(self, token: str) -> str | None:
        """The job a token belongs to, or None; reads the store on a cache miss (blocking)."""
        if not _well_formed(token):
            return None
        digest = token_hash(token)
        job_id = self._cache.get(digest)
        if job_id is not None:
            return job_id
        generation = self._generation
        job_id = self._store.job_of_token(digest)
        if job_id is not None:
            with self._lock:
                if generation == self._generation:
                    if len(self._cache) >= MAX_CACHED_TOKENS:
                        self._cache.clear()
                        self._by_job.clear()
                    self._cache[digest] = job_id
                    self._by_job.setdefault(job_id, set()).add(digest)
        return job_id

    def add(self, job_id: str, digest: str) -> None:
        """One more token for an existing job (an idempotent CreateJob replay), up to the limit."""
        with self._add_lock:  # every add takes it, so the count cannot race
            if self._store.count_job_tokens(job_id) >= MAX_TOKENS_PER_JOB:
                raise ResourceExhausted(f"job {job_id!r} has {MAX_TOKENS_PER_JOB} tokens, the limit per job "
                                        "(each CreateJob replay issues one more)")
            if not self._store.add_job_token(job_id, digest):
                raise NotFound(f"job {job_id!r} not found")

    def forget_all(self) -> None:
        """Empties the cache (another replica may have deleted jobs unseen)."""
        with self._lock:
            self._generation += 1
            self._cache.clear()
            self._by_job.clear()

    def forget_job(self, job_id: str) -> None:
        with self._lock:
            self._generation += 1
            for digest in self._by_job.pop(job_id, ()):
                self._cache.pop(digest, None)


def _well_formed(token: str) -> bool:
    return token.startswith(JOB_TOKEN_PREFIX) and len(token) <= MAX_TOKEN_CHARS
