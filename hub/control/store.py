"""The control database: the journal and the fault rules, in their own SQLite file
(data_dir/control.sqlite3) beside the hub's, or on PostgreSQL in their own schema
(`careplan_control`) of the hub's database.

Why a file of its own rather than tables in hub.sqlite3:
1. A snapshot restore or a reset replaces the hub's database; the journal must survive both (it
   records them) and so must the fault rules a tester set up.
2. Journal rows are observability, not acknowledged data: they are written with
   synchronous=NORMAL (PostgreSQL: `SET LOCAL synchronous_commit = off`, under an advisory lock
   of their own) and never wait on the hub's writer lock or its fsync, so recording every request
   does not slow the submissions it records.
3. Like the hub's database it is shared by every worker process on the machine (WAL), so the
   journal, the faults and the dashboard's live feed do not live in one process's memory.
"""

from __future__ import annotations

from pathlib import Path

from hub.config import HubConfig
from hub.db import Database
from hub.dburl import is_postgres_url
from hub.storage import Storage

CONTROL_SCHEMA = "careplan_control"
CONTROL_LOCK_KEY = 0x6361_7265_6374_726C  # the journal's writers: never the hub's lock

CONTROL_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        method TEXT NOT NULL,
        route TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER NOT NULL,
        code TEXT,
        office TEXT,
        user_id TEXT,
        serial TEXT,
        transmission TEXT,
        duration_ms REAL NOT NULL,
        fault TEXT,
        decisions TEXT
    );
    CREATE INDEX journal_office ON journal(office, id);
    CREATE INDEX journal_transmission ON journal(transmission, id);
    CREATE INDEX journal_code ON journal(code, id);
    CREATE TABLE faults (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        rule TEXT NOT NULL,
        seed INTEGER NOT NULL,
        remaining INTEGER,
        matched INTEGER NOT NULL DEFAULT 0,
        injected INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    """,
)


class ControlDatabase(Database):
    """hub.db.Database with the control schema and NORMAL durability (see the module docstring)."""

    migrations = CONTROL_MIGRATIONS

    @classmethod
    async def open_control(cls, path: Path) -> ControlDatabase:
        db = await cls.open(path)
        await db.fetch_one("PRAGMA synchronous=NORMAL")
        assert isinstance(db, ControlDatabase)
        return db


async def open_control(config: HubConfig) -> Storage:
    """The control database of `config`: its own schema of the hub's PostgreSQL database, or
    data_dir/control.sqlite3."""
    if is_postgres_url(config.database_url):
        from hub.control.store_postgres import PostgresControlDatabase  # asyncpg for PostgreSQL only

        return await PostgresControlDatabase.open(config.database_url, schema=CONTROL_SCHEMA)
    return await ControlDatabase.open_control(config.data_dir / "control.sqlite3")
