"""The central server: ingest, storage (SQLite or PostgreSQL), REST API, health and metrics."""
