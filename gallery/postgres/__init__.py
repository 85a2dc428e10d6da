"""Galleries in PostgreSQL: the same store interface as the SQLite one, for replicas that share galleries.

One PostgreSQL schema per gallery (`g_<id>`), holding the very tables the SQLite file holds, plus a catalog
of galleries in the public schema; selected by `SG_DATABASE_URL=postgresql://...`.
"""

from gallery.postgres.registry import PostgresRegistry
from gallery.postgres.store import PostgresStore

__all__ = ["PostgresRegistry", "PostgresStore"]
