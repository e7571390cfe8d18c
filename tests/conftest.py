"""Fixtures shared by the store-level tests: ``database`` and ``store`` run a test on SQLite and
on a real PostgreSQL server (tests/helpers_pg.py). A module's own fixture of the same name wins."""

from .helpers_pg import database, postgres_cluster, postgres_url, store

__all__ = ["database", "postgres_cluster", "postgres_url", "store"]
