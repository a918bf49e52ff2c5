"""A real PostgreSQL server for tests: ``scripts/postgres.py``, shared with the benchmarks."""

from scripts.postgres import PostgresServer, bin_dir, running_postgres

__all__ = ["PostgresServer", "bin_dir", "running_postgres"]
