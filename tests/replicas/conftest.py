"""Replicas on one PostgreSQL database, in a throwaway cluster of the tests' own; where
PostgreSQL is not installed these tests skip and say why (tests/support/postgres.py)."""
from __future__ import annotations

from tests.support.postgres import cluster_fixture

postgres_cluster = cluster_fixture()
