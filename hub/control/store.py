"""The control database: the journal and the fault rules, in their own SQLite file
(data_dir/control.sqlite3) beside the hub's.

Why a file of its own rather than tables in hub.sqlite3:
1. A snapshot restore or a reset replaces the hub's database; the journal must survive both (it
   records them) and so must the fault rules a tester set up.
2. Journal rows are observability, not acknowledged data: they are written with
   synchronous=NORMAL and never wait on the hub's writer lock or its fsync, so recording every
   request does not slow the submissions it records.
3. Like the hub's database it is shared by every worker process on the machine (WAL), so the
   journal, the faults and the dashboard's live feed do not live in one process's memory.
"""

from __future__ import annotations

from pathlib import Path

from hub.db import Database

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
