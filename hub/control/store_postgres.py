"""The control database on PostgreSQL (hub.control.store): a module of its own so that a hub on
SQLite, the default, never imports asyncpg (hub.storage opens hub.db_postgres the same way)."""

from __future__ import annotations

from hub.control.store import CONTROL_LOCK_KEY, CONTROL_MIGRATIONS
from hub.db_postgres import PostgresDatabase


class PostgresControlDatabase(PostgresDatabase):
    """The control schema on PostgreSQL, journal commits at synchronous_commit=off."""

    migrations = CONTROL_MIGRATIONS
    lock_key = CONTROL_LOCK_KEY
    relaxed = True
